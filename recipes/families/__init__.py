"""Built-in model families, one package each; the registry finds every package in this folder."""
