"""The emotion head (seed 002's fine-tuned model): training and evaluation, and its versioned registry in the lake."""
