"""What happens to a trained model: registered (``registry``, one for both models), described (``card``), promoted
when not worse (``promotion``), followed in MLflow (``tracking``)."""
