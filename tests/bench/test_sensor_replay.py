"""The replay client counts the windows its chunks complete exactly as the service's stream buffer makes
them (gaps included): what its flow control and its "nothing lost" check rest on."""

from __future__ import annotations

import numpy as np

from harflow.bench.sensor_replay import _WindowCount
from harflow.data.windows import WindowSpec
from harflow.serve.stream import DeviceStream


def test_client_window_count_equals_the_service_buffer_across_gaps():
    spec = WindowSpec()
    rng = np.random.default_rng(0)
    server, client = DeviceStream(spec, max_samples=4000), _WindowCount(spec)
    t, made = 1_770_595_200.0, 0
    for seq in range(60):
        n = int(rng.integers(1, 2000))
        made += len(server.push(seq, t, 50.0, np.zeros((n, 6), np.float32)).t_start)
        assert client.add(t, n) == made
        t += n / 50
        if rng.random() < 0.3:  # non-wear: a gap, short (buffer kept) or long (buffer restarted)
            t += float(rng.choice([1.0, 4.0, 6.0, 3600.0]))
