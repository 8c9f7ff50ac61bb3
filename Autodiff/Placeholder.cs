namespace Curvature.Autodiff;
