"""Training: one loop for a single process, DDP (torchrun) and Horovod (horovodrun)."""
