"""harflow's own per-window work, in process, no network: 64 devices x 16 windows; per window 4 JSON chunks
parsed and pushed, the prediction row and reply built and serialized, and a group commit of
64 rows. Run with PYTHONPATH=<a source tree> (the checkout, or a git archive of another commit):

  PYTHONPATH=src python scripts/serve_window_work.py RUN_DIR
"""

import json
import sys
import tempfile
import time

import numpy as np

import harflow.serve.db.queries as q
from harflow.data.windows import WindowSpec
from harflow.serve.db.queries import Batch, Store, prediction_row
from harflow.serve.db.session import migrate
from harflow.serve.protocol import parse_json_chunk
from harflow.serve.stream import DeviceStream

new = hasattr(q, "rounded_probabilities")
if new:
    import orjson

    from harflow.serve.db.queries import rounded_probabilities
with open(sys.argv[1] + "/config.json") as f:
    cfg = json.load(f)
spec = WindowSpec.from_dict(cfg["window"])
labels = ["WALKING", "UPSTAIRS", "DOWNSTAIRS", "SITTING", "STANDING", "LAYING"]
rng = np.random.default_rng(0)
D, W = 64, 16
x = rng.normal(size=(W * 64 + 128, 6)).astype(np.float32)
msgs = [
    json.dumps({"seq": k, "t0": k * 16 / 50, "rate": 50.0, "samples": x[k * 16 : (k + 1) * 16].tolist()})
    for k in range(len(x) // 16)
]
d = tempfile.mkdtemp()
url = f"sqlite:///{d}/harflow.db"
migrate(url)
store = Store(url)
probs_all = rng.dirichlet(np.ones(6), size=(D, 200)).astype(np.float32)


def run(rep):
    streams = [DeviceStream(spec) for _ in range(D)]
    n_windows = 0
    pending = []
    for m in msgs:
        for dv in range(D):
            seq, t0, rate, smp = parse_json_chunk(m)
            w = streams[dv].push(seq, t0, rate, smp)
            for j in range(len(w.X)):
                pending.append((dv, seq, float(w.t_start[j]), float(w.t_end[j])))
        if len(pending) >= 64:
            batch = Batch()
            outs = []
            for dv, seq, ts, te in pending:
                p = probs_all[dv, n_windows % 200]
                dev = f"r{rep}-d{dv}"
                if new:
                    r = rounded_probabilities(p)
                    row = prediction_row(dev, seq, ts, te, labels, p, "", "v", r)
                    probs = dict(zip(labels, r, strict=True))
                else:
                    row = prediction_row(dev, seq, ts, te, labels, p, "", "v")
                    probs = {n: round(float(v), 6) for n, v in zip(labels, p, strict=True)}
                row["smoothed"] = row["activity"]
                batch.predictions.append(row)
                outs.append(
                    {
                        "type": "prediction",
                        "device_id": dev,
                        "seq": seq,
                        "t_start": row["t_start"],
                        "t_end": row["t_end"],
                        "activity": row["activity"],
                        "smoothed": row["smoothed"],
                        "probability": row["probability"],
                        "probabilities": probs,
                        "model_version": "v",
                    }
                )
                n_windows += 1
            store.write(batch)
            for o in outs:
                (orjson.dumps([o]).decode() if new else json.dumps([o]))
            pending = []
    return n_windows


res = []
for rep in range(5):
    t0 = time.process_time()
    n = run(rep)
    dt = time.process_time() - t0
    res.append(dt / n * 1e6)
print(
    ("new" if new else "base"),
    "us per window (4 msgs + row + reply + commit share):",
    [round(v) for v in res],
    "median",
    round(sorted(res)[2]),
)
