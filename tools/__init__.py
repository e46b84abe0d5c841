"""Tools that are not part of the pipeline: the sample and scale-inbox generator (`tools/synthetic.py`)."""
