"""Training: plan, devices, settings, data on the device, loop, L-BFGS,
objectives, losses, optimizers, inference."""
