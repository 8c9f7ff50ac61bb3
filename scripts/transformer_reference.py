#!/usr/bin/env python3
"""The Transformer encoder classifier of Curvature (Models/Transformer.cs) in PyTorch float64.

  fixture OUT_DIR   writes the tiny test fixture (Tests/Data/transformer): theta.npz (the
                    state_dict), X.npy (token ids as float64 [n, L], 0 = padding), y.npy
                    (int64 labels) and expected.npz (loss [1] = mean cross-entropy, grad [P] =
                    parameters_to_vector of its gradient).
  bench IDS.npy Y.npy VOCAB [THREADS] [ROWS]
                    times gradient, H·v and a block of 10 H·v of Song et al.'s setting
                    (2 layers, d 64, 8 heads, feed-forward 256) on the batch written by
                    `curvature export-data --data spam:1000` (ids.npy, y.npy; the first ROWS
                    rows, default all), as JSON: the best wall time and the process CPU time
                    of the same call, in ms.

Run with Debian's python3-torch: /usr/bin/python3 scripts/transformer_reference.py fixture Tests/Data/transformer
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)


class TransformerClassifier(nn.Module):
    """pos_embedding, embedding, encoder (pre-norm, GELU, no dropout), masked mean pooling, classifier."""

    def __init__(self, vocab, length, d, heads, ff, layers, classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d)
        self.pos_embedding = nn.Parameter(torch.randn(1, length, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.classifier = nn.Linear(d, classes)

    def forward(self, ids):
        mask = (ids != 0).to(torch.float64)
        h = self.embedding(ids) + self.pos_embedding[:, : ids.shape[1]]
        h = self.encoder(h, src_key_padding_mask=ids == 0)
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return self.classifier(pooled)


def loss_fn(model, ids, labels):
    return nn.functional.cross_entropy(model(ids), labels)


def fixture(out):
    torch.manual_seed(20251207)
    model = TransformerClassifier(vocab=12, length=5, d=4, heads=2, ff=6, layers=2, classes=2).train()
    with torch.no_grad():  # leave the init, so every block (biases, norms, layers) differs
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    ids = torch.tensor([[3, 5, 2, 0, 0], [1, 0, 0, 0, 0], [6, 11, 4, 2, 9],
                        [2, 3, 0, 0, 0], [10, 1, 4, 7, 0], [4, 2, 6, 3, 8]])
    labels = torch.tensor([0, 1, 1, 0, 1, 0])
    loss = loss_fn(model, ids, labels)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    np.savez(f"{out}/theta.npz", **{k: v.detach().numpy() for k, v in model.state_dict().items()})
    np.save(f"{out}/X.npy", ids.numpy().astype(np.float64))
    np.save(f"{out}/y.npy", labels.numpy().astype(np.int64))
    np.savez(f"{out}/expected.npz", loss=np.array([loss.item()]),
             grad=torch.cat([g.reshape(-1) for g in grads]).numpy())
    print(f"wrote {out}: {sum(p.numel() for p in model.parameters())} parameters, loss {loss.item():.17g}")


def bench(ids_path, y_path, vocab, threads, rows):
    torch.set_num_threads(threads)
    ids = torch.from_numpy(np.load(ids_path)).long()[:rows]
    labels = torch.from_numpy(np.load(y_path)).long()[:rows]
    torch.manual_seed(0)
    model = TransformerClassifier(vocab, ids.shape[1], 64, 8, 256, 2, 2).train()
    params = list(model.parameters())
    vs = [[torch.randn_like(p) for p in params] for _ in range(10)]

    def gradient():
        return torch.autograd.grad(loss_fn(model, ids, labels), params)

    def hvp(count):
        g = torch.autograd.grad(loss_fn(model, ids, labels), params, create_graph=True)
        out = []
        for j in range(count):
            out.append(torch.autograd.grad(g, params, grad_outputs=vs[j], retain_graph=j < count - 1))
        return out

    def best(f, reps=3):
        f()
        times = []
        for _ in range(reps):
            t, c = time.perf_counter(), time.process_time()
            f()
            times.append(((time.perf_counter() - t) * 1e3, (time.process_time() - c) * 1e3))
        return min(times)

    (g, gc), (h, hc), (b, bc) = best(gradient), best(lambda: hvp(1)), best(lambda: hvp(10), reps=2)
    print(json.dumps({"torch": torch.__version__, "threads": threads, "batch": ids.shape[0], "length": ids.shape[1],
                      "parameters": sum(p.numel() for p in params), "gradient_ms": g, "hvp_ms": h, "block10_ms": b,
                      "gradient_cpu_ms": gc, "hvp_cpu_ms": hc, "block10_cpu_ms": bc, "hvp_over_gradient": h / g}))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "fixture":
        fixture(sys.argv[2])
    elif len(sys.argv) >= 5 and sys.argv[1] == "bench":
        bench(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 2,
              int(sys.argv[6]) if len(sys.argv) > 6 else None)
    else:
        sys.exit(__doc__)
