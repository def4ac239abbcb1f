"""Runs llama.cpp's OpenAI-compatible server (xllamacpp) on loopback for tests and benchmarks.

Usage: llama_server.py MODEL.gguf PORT THREADS
Prints "listening http://127.0.0.1:PORT" once up; stops on SIGTERM or when stdin closes
(so a test harness that dies takes the server with it).
"""
import signal
import sys
import threading

import xllamacpp as xlc


def main() -> None:
    model, port, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    p = xlc.CommonParams()
    p.model.path = model
    p.hostnames = ["127.0.0.1"]
    p.port = port
    p.n_ctx = 4096
    p.n_parallel = 1
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.n_threads_http = 1
    p.n_gpu_layers = 0
    p.warmup = False
    server = xlc.Server(p)
    print("listening", server.listening_address, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def watch_stdin() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    stop.wait()
    del server


if __name__ == "__main__":
    main()
