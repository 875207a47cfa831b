"""``sst ui``: a local web page over the pipeline (:mod:`sst.ui.page` builds it, :mod:`sst.ui.jobs` does the
work). Needs the ``ui`` extra (Gradio)."""
