using Curvature.Cli;

return CurvatureApp.Run(args);
