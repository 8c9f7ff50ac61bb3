namespace Curvature.Optimizers;
