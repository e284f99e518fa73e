"""`ttsx serve`: an OpenAI-compatible speech endpoint with request batching and streaming (extra `ttsx[serve]`).

    app.py      routes, request checks, streaming, errors
    models.py   what the app needs of a model: LocalModel (this process) or the Ray Serve one
    batcher.py  request batching for one artifact (a worker thread over its pipeline)
    metrics.py  Prometheus metrics
    server.py   `ttsx serve`: load the artifacts, bind safely, run uvicorn (SIGTERM drains)
    ray_app.py  the same app on Ray Serve: one deployment per artifact with Ray's own batching
"""
