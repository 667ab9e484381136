"""Model manifest, verified model files and the inference runtime.

Each model kind has a small class with ``load()`` and ``predict()`` (see ``base.py``); the
runtime that executes it sits behind a session object, so the pipeline never touches OpenCV's
DNN API directly.
"""

from facesearch.models.manifest import Manifest, ModelSpec, load_manifest, verified_model_path

__all__ = ["Manifest", "ModelSpec", "load_manifest", "verified_model_path"]
