#!/usr/bin/env python3
"""Coefficients of FastMath.NormalCdf (Autodiff/FastMath.cs), the vectorized Φ behind GELU.

With z = |x|/√2, erfc(z) is approximated piecewise (docs/autodiff.md, "Vectorized Φ"):
  z < 1:          erfc(z) = 1 − z·S(z²),             S(t) ≈ erf(√t)/√t on t ∈ [0, 1]
  1 ≤ z < 2.5:    erfc(z) = e^{−z²}·u·M(u),  u = 1/z, M(u) ≈ z·e^{z²}·erfc(z) on u ∈ [0.4, 1]
  z ≥ 2.5:        erfc(z) = e^{−z²}·u·T(u),           T likewise on u ∈ [0.036, 0.4]
(erfc underflows below z = 27.3, u = 0.0366). Each polynomial interpolates at the Chebyshev
nodes of its interval with 50-digit arithmetic (mpmath), in powers of (variable − midpoint),
and the script prints the C# constants and the worst relative error of the double-precision
Horner evaluation on a dense grid. Run: /usr/bin/python3 scripts/normal_cdf_fit.py

With `--table FILE` it writes the test's reference instead: x, Φ(x) and φ(x) to 50
digits (printed with 17 significant digits) at 4,001 seeded points spread over
[−38.5, 9] plus the pieces' boundaries (Tests/Data/normal_cdf_reference.csv, read by
AutodiffOpTests.Vectorized_normal_cdf_agrees_with_a_50_digit_reference).
"""
import random
import sys

import mpmath as mp

mp.mp.dps = 50


def fit(f, a, b, degree):
    a, b = mp.mpf(a), mp.mpf(b)
    n = degree + 1
    mid = (a + b) / 2
    nodes = [mid + (b - a) / 2 * mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n) for k in range(n)]
    vander = mp.matrix([[(x - mid) ** j for j in range(n)] for x in nodes])
    c = mp.lu_solve(vander, mp.matrix([f(x) for x in nodes]))
    return float(mid), [float(c[j]) for j in range(n)]


def worst(f, a, b, mid, coefficients, samples=4000):
    w = 0.0
    for i in range(samples + 1):
        x = a + (b - a) * i / samples
        r = 0.0
        for c in reversed(coefficients):
            r = r * (x - mid) + c
        exact = f(mp.mpf(x))
        w = max(w, float(abs((r - exact) / exact)))
    return w


small = lambda t: mp.erf(mp.sqrt(t)) / mp.sqrt(t) if t > 0 else 2 / mp.sqrt(mp.pi)
scaled = lambda u: mp.erfc(1 / u) * mp.exp(1 / (u * u)) / u
if len(sys.argv) == 3 and sys.argv[1] == "--table":
    rng = random.Random(20)
    xs = [rng.uniform(-4, 4) for _ in range(2000)] + [rng.uniform(-38.5, 9) for _ in range(2000)]
    r2 = 2 ** 0.5
    xs += [0.0, r2, -r2, 2.5 * r2, -2.5 * r2, -38.5, 1e-300]
    xs += [x * (1 + d) for x in (r2, -r2, 2.5 * r2, -2.5 * r2) for d in (-1e-16, 1e-16, -1e-12, 1e-12)]
    with open(sys.argv[2], "w") as f:
        f.write("x,cdf,pdf\n")
        for x in xs:
            m = mp.mpf(x)
            f.write(f"{x!r},{mp.nstr(mp.ncdf(m), 17)},{mp.nstr(mp.npdf(m), 17)}\n")
    sys.exit(0)

pieces = [("S", small, 0.0, 1.0, 11), ("M", scaled, 0.4, 1.0, 17), ("T", scaled, 0.036, 0.4, 18)]
for name, f, a, b, degree in pieces:
    mid, c = fit(f, a, b, degree)
    print(f"// {name}: degree {degree} on [{a}, {b}] about {mid!r}; worst relative error in double Horner {worst(f, a, b, mid, c):.2e}")
    print(f"const double {name}Mid = {mid!r};")
    print(f"static readonly double[] {name} = [" + ", ".join(repr(x) for x in c) + "];")
