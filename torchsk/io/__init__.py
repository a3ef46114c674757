"""Persistence (pickle, joblib, skops), ONNX export, and loading models saved before the layers."""
