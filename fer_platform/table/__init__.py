"""The ``imagenes_fer`` table, shared by every stage and by both servers: its schema and its row I/O."""
