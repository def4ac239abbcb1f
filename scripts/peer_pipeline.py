#!/usr/bin/env python3
"""The Python peer of `skiff bench all`: the same work done with fastembed + qdrant-client.

  peer_pipeline.py ingest DIR   reads DIR/chunks.jsonl ({"id", "text", "payload"} per line),
                                embeds the texts with fastembed (the same ONNX file as skiff,
                                from --model-dir) and upserts them with their payloads into a
                                local on-disk qdrant-client collection; prints chunks/s.
  peer_pipeline.py search DIR   reads DIR/points.f32 (N x D float32), DIR/sparse.jsonl (one
                                {"i": [...], "v": [...]} per point), DIR/queries.f32 and
                                DIR/queries_sparse.jsonl; loads them into an in-memory
                                qdrant-client collection and times the same hybrid query skiff
                                runs (dense + BM25 prefetch, RRF, acl filter); prints p50/p99.

Prints one JSON object on stdout. Needs scripts/fetch-peers.sh (fastembed, qdrant-client).
Offline: the model comes from --model-dir, nothing is downloaded.
"""
import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def percentile(sorted_xs, p):
    if not sorted_xs:
        return 0.0
    i = min(len(sorted_xs) - 1, max(0, round(p * (len(sorted_xs) - 1))))
    return sorted_xs[i]


def ingest(args):
    from fastembed import TextEmbedding
    from qdrant_client import QdrantClient, models

    rows = [json.loads(line) for line in open(os.path.join(args.dir, "chunks.jsonl"))]
    model = TextEmbedding(
        "sentence-transformers/all-MiniLM-L6-v2",
        specific_model_path=args.model_dir,
        threads=args.threads,
    )
    with tempfile.TemporaryDirectory() as store:
        client = QdrantClient(path=store)
        client.create_collection(
            "wiki",
            vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE),
        )
        started = time.perf_counter()
        for i in range(0, len(rows), args.batch):
            batch = rows[i : i + args.batch]
            vectors = list(model.embed([r["text"] for r in batch], batch_size=args.batch))
            client.upsert(
                "wiki",
                [
                    models.PointStruct(id=r["id"], vector=v.tolist(), payload=r["payload"])
                    for r, v in zip(batch, vectors)
                ],
            )
        seconds = time.perf_counter() - started
        count = client.count("wiki").count
        client.close()
    return {
        "peer": f"python fastembed + qdrant-client (local, on disk), {args.threads} threads",
        "chunks": count,
        "seconds": seconds,
        "chunks_per_second": count / seconds if seconds > 0 else 0.0,
    }


def search(args):
    import numpy as np
    from qdrant_client import QdrantClient, models

    dim = args.dim
    points = np.fromfile(os.path.join(args.dir, "points.f32"), dtype="<f4").reshape(-1, dim)
    sparse = [json.loads(line) for line in open(os.path.join(args.dir, "sparse.jsonl"))]
    queries = np.fromfile(os.path.join(args.dir, "queries.f32"), dtype="<f4").reshape(-1, dim)
    qsparse = [json.loads(line) for line in open(os.path.join(args.dir, "queries_sparse.jsonl"))]
    client = QdrantClient(":memory:")
    client.create_collection(
        "wiki",
        vectors_config={"dense": models.VectorParams(size=dim, distance=models.Distance.COSINE)},
        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    started = time.perf_counter()
    for i in range(0, len(points), 1000):
        client.upsert(
            "wiki",
            [
                models.PointStruct(
                    id=i + j,
                    vector={
                        "dense": points[i + j].tolist(),
                        "bm25": models.SparseVector(indices=sparse[i + j]["i"], values=sparse[i + j]["v"]),
                    },
                    payload={"acl": ["*"]},
                )
                for j in range(min(1000, len(points) - i))
            ],
        )
    load_seconds = time.perf_counter() - started
    public = models.Filter(must=[models.FieldCondition(key="acl", match=models.MatchAny(any=["*"]))])
    latencies = []
    for q, s in list(zip(queries, qsparse))[: args.queries]:
        t = time.perf_counter()
        client.query_points(
            "wiki",
            prefetch=[
                models.Prefetch(query=q.tolist(), using="dense", limit=args.prefetch, filter=public),
                models.Prefetch(
                    query=models.SparseVector(indices=s["i"], values=s["v"]),
                    using="bm25",
                    limit=args.prefetch,
                    filter=public,
                ),
            ],
            query=models.FusionQuery(fusion=models.Fusion.RRF),
            query_filter=public,
            limit=args.k,
        )
        latencies.append((time.perf_counter() - t) * 1000.0)
    latencies.sort()
    return {
        "peer": "python qdrant-client (local mode, in memory)",
        "points": len(points),
        "load_seconds": load_seconds,
        "queries": len(latencies),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["ingest", "search"])
    parser.add_argument("dir")
    parser.add_argument("--model-dir", default="/var/tmp/skiff-models/minilm")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--prefetch", type=int, default=40)
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args()
    try:
        result = ingest(args) if args.mode == "ingest" else search(args)
    except Exception as e:  # one clear line for skiff to report
        print(f"peer_pipeline.py {args.mode}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
