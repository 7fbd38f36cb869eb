"""The model on the PC: data, training, the NPU head, export, parity proofs, evaluation."""
