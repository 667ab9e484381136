"""Vector stores behind one port: FAISS (embedded) and Milvus."""
