"""Vector stores behind one port (``port.py``): FAISS, embedded (``faiss_store.py``, running
the structures of ``flat.py`` and ``pq_refine.py`` chosen by ``plan.py``, saved and read by
``files.py`` and ``load.py``), and Milvus (``milvus.py``)."""
