"""A small DataJoint pipeline that runs with no database server (SQLite), or on MariaDB.

    python demo/pipeline.py                  # SQLite in a fresh temporary folder
    python demo/pipeline.py --path lab.db    # SQLite in that file (or folder); reruns resume
    python demo/pipeline.py --quick          # smaller recordings (a few seconds)
    DJ_HOST=127.0.0.1 DJ_USER=root DJ_PASS=password python demo/pipeline.py   # MariaDB
    python demo/pipeline.py --backend mysql --keep   # keep the MariaDB schema afterwards

The pipeline: a Lookup table of analysis parameters; Subject (Manual) -> Session (Manual) ->
Recording (Imported: its ``make`` synthesises a multichannel extracellular signal per session,
deterministic from the key) -> Features (Computed, one row per recording and parameter set,
with a Part table holding one row per channel: band power and spike counts computed with
numpy). Both auto-populated tables run with ``populate(reserve_jobs=True, processes=2,
display_progress=True)``; then a few queries (restriction, join, aggr, proj) are printed, the
diagram is saved, and the time of every step is printed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import pathlib
import secrets
import sys
import tempfile
import time

import numpy as np

# run from a checkout without installing: the package lives in python/
_REPO = pathlib.Path(__file__).resolve().parent.parent
with contextlib.suppress(ImportError):
    import datajoint_rs  # noqa: F401
if "datajoint_rs" not in sys.modules:
    sys.path.insert(0, str(_REPO / "python"))

import datajoint_rs as dj  # noqa: E402

# recording sizes: (channels, seconds) at SAMPLING_RATE, float32
SAMPLING_RATE = 2000.0
FULL_SIZE = (16, 60.0)  # 1.92 M samples, 7.7 MB per recording
QUICK_SIZE = (4, 5.0)  # 40 k samples, 160 kB per recording

SUBJECTS = [
    dict(subject_id="M001", species="mouse", sex="M", date_of_birth="2024-01-15"),
    dict(subject_id="M002", species="mouse", sex="F", date_of_birth="2024-02-03"),
    dict(subject_id="R001", species="rat", sex="F", date_of_birth="2023-11-20"),
]
# (subject_id, session_idx, session_date, experimenter)
SESSIONS = [
    ("M001", 1, "2024-05-02", "alice"),
    ("M001", 2, "2024-05-09", "alice"),
    ("M002", 1, "2024-05-03", "bob"),
    ("M002", 2, "2024-05-10", "bob"),
    ("R001", 1, "2024-04-22", "alice"),
    ("R001", 2, "2024-06-01", "carol"),
]


def key_seed(key: dict) -> int:
    """A seed that depends only on the key's values (stable across runs and processes)."""
    text = "|".join(f"{k}={key[k]}" for k in sorted(key))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def synthesise(key: dict, n_channels: int, duration: float, fs: float) -> np.ndarray:
    """A (channels, samples) float32 signal in microvolts: 1/f background, a theta rhythm and
    a gamma burst shared across channels with per-channel gains, and spikes (biphasic
    waveforms at Poisson times, rate per channel), deterministic from ``key``."""
    rng = np.random.default_rng(key_seed(key))
    n = int(duration * fs)
    t = np.arange(n) / fs
    # 1/f ("pink") background, shaped in the frequency domain
    spectrum = rng.standard_normal((n_channels, n // 2 + 1)) + 1j * rng.standard_normal(
        (n_channels, n // 2 + 1)
    )
    freqs = np.fft.rfftfreq(n, 1 / fs)
    spectrum /= np.sqrt(np.maximum(freqs, 1.0))
    signal = np.fft.irfft(spectrum, n=n, axis=1)
    signal *= 20.0 / signal.std(axis=1, keepdims=True)
    # shared oscillations with per-channel gains
    theta = np.sin(2 * np.pi * rng.uniform(5, 8) * t + rng.uniform(0, 2 * np.pi))
    gamma = np.sin(2 * np.pi * rng.uniform(35, 60) * t) * (np.sin(2 * np.pi * 0.2 * t) > 0.3)
    signal += rng.uniform(5, 30, (n_channels, 1)) * theta
    signal += rng.uniform(2, 10, (n_channels, 1)) * gamma
    # spikes: a 1.5 ms biphasic waveform at Poisson times
    width = int(0.0015 * fs) + 2
    waveform = -np.sin(np.linspace(0, 2 * np.pi, width)) * np.hanning(width)
    for ch in range(n_channels):
        rate = rng.uniform(1, 15)  # Hz
        times = rng.integers(0, n - width, rng.poisson(rate * duration))
        amplitude = rng.uniform(80, 200)
        for start in times:
            signal[ch, start : start + width] += amplitude * waveform
    return signal.astype(np.float32)


def band_power(signal: np.ndarray, fs: float, lo: float, hi: float) -> np.ndarray:
    """Mean power spectral density (µV²/Hz) in [lo, hi) per channel (periodogram)."""
    spectrum = np.fft.rfft(signal.astype(np.float64), axis=1)
    freqs = np.fft.rfftfreq(signal.shape[1], 1 / fs)
    psd = (np.abs(spectrum) ** 2) / (fs * signal.shape[1])
    band = (freqs >= lo) & (freqs < hi)
    return psd[:, band].mean(axis=1)


def spike_counts(signal: np.ndarray, threshold: float) -> np.ndarray:
    """Negative threshold crossings per channel; threshold in units of the robust noise
    estimate (median absolute value / 0.6745)."""
    sigma = np.median(np.abs(signal), axis=1, keepdims=True) / 0.6745
    below = signal < -threshold * sigma
    return np.count_nonzero(below[:, 1:] & ~below[:, :-1], axis=1)


def declare(schema, size):
    n_channels, duration = size

    @schema
    class AnalysisParams(dj.Lookup):
        definition = """
        # analysis parameter sets: a frequency band and a spike-detection threshold
        param_id : tinyint unsigned
        ---
        band : varchar(16)
        band_lo : float        # Hz
        band_hi : float        # Hz
        spike_threshold : float  # in robust standard deviations
        """
        contents = [
            (1, "theta", 4.0, 8.0, 4.0),
            (2, "gamma", 30.0, 80.0, 5.0),
            (3, "beta", 13.0, 30.0, 6.0),
        ]

    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : varchar(16)
        ---
        species : varchar(32)
        sex : enum('M', 'F', 'U')
        date_of_birth : date
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session_idx : smallint unsigned
        ---
        session_date : date
        experimenter : varchar(32)
        """

    @schema
    class Recording(dj.Imported):
        definition = """
        # a multichannel recording of the session (synthesised here, read from files in life)
        -> Session
        ---
        sampling_rate : float    # Hz
        n_channels : smallint unsigned
        duration : float         # s
        signal : longblob        # (channels, samples) float32, µV
        """

        def make(self, key):
            signal = synthesise(key, n_channels, duration, SAMPLING_RATE)
            self.insert1(
                dict(
                    key,
                    sampling_rate=SAMPLING_RATE,
                    n_channels=n_channels,
                    duration=duration,
                    signal=signal,
                )
            )

    @schema
    class Features(dj.Computed):
        definition = """
        # per-recording features for one parameter set
        -> Recording
        -> AnalysisParams
        ---
        mean_band_power : double   # µV²/Hz, mean over channels
        total_spikes : int unsigned
        """

        class Channel(dj.Part):
            definition = """
            -> master
            channel : smallint unsigned
            ---
            band_power : double      # µV²/Hz
            spike_count : int unsigned
            spike_rate : float       # Hz
            """

        def make(self, key):
            signal, fs, duration = (Recording & key).fetch1("signal", "sampling_rate", "duration")
            lo, hi, threshold = (AnalysisParams & key).fetch1(
                "band_lo", "band_hi", "spike_threshold"
            )
            power = band_power(signal, fs, lo, hi)
            spikes = spike_counts(signal, threshold)
            self.insert1(
                dict(key, mean_band_power=float(power.mean()), total_spikes=int(spikes.sum()))
            )
            self.Channel.insert(
                dict(
                    key,
                    channel=ch,
                    band_power=float(power[ch]),
                    spike_count=int(spikes[ch]),
                    spike_rate=float(spikes[ch] / duration),
                )
                for ch in range(len(power))
            )

    return AnalysisParams, Subject, Session, Recording, Features


def show(title: str, query) -> None:
    print(f"\n--- {title}")
    print(f"    {query.make_sql()}" if hasattr(query, "make_sql") else "")
    print(repr(query))


def save_diagram(diagram, out_dir: pathlib.Path) -> pathlib.Path:
    """Save the diagram as PNG, else SVG (both need Graphviz's ``dot``), else the Graphviz
    source."""
    errors = []
    for suffix in ("png", "svg"):
        path = out_dir / f"pipeline.{suffix}"
        try:
            diagram.save(str(path))
            return path
        except Exception as err:  # a missing pydot / dot: try the next format
            errors.append(f"{suffix}: {err}")
    path = out_dir / "pipeline.dot"
    path.write_text(diagram.make_dot().to_string())
    print("diagram: could not render (" + "; ".join(errors) + "); wrote the Graphviz source")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend",
        choices=("sqlite", "mysql"),
        help="default: mysql when DJ_HOST is set, else sqlite",
    )
    parser.add_argument(
        "--path",
        help="SQLite file or folder (default: DJ_DATABASE_PATH, else a fresh temporary folder)",
    )
    parser.add_argument("--out", help="folder for the diagram (default: the database folder)")
    parser.add_argument("--schema", help="schema name (default: demo_pipeline[_<suffix>])")
    parser.add_argument("--keep", action="store_true", help="MariaDB: do not drop the schema")
    parser.add_argument("--quick", action="store_true", help="small recordings (seconds)")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # keep our lines in order with tqdm's (stderr)

    backend = args.backend or ("mysql" if os.environ.get("DJ_HOST") else "sqlite")
    size = QUICK_SIZE if args.quick else FULL_SIZE
    timings: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def step(name):
        t0 = time.perf_counter()
        yield
        timings.append((name, time.perf_counter() - t0))

    dj.config["safemode"] = False
    dj.config["display.limit"] = 8
    if backend == "sqlite":
        path = pathlib.Path(
            args.path or os.environ.get("DJ_DATABASE_PATH") or tempfile.mkdtemp(prefix="dj_demo_")
        )
        dj.config["database.backend"] = "sqlite"
        dj.config["database.path"] = str(path)
        out_dir = pathlib.Path(args.out) if args.out else (path if path.is_dir() else path.parent)
        schema_name = args.schema or "demo_pipeline"
        drop_at_end = False
    else:
        dj.config["database.backend"] = "mysql"
        dj.config["database.host"] = os.environ.get("DJ_HOST", "127.0.0.1")
        dj.config["database.user"] = os.environ.get("DJ_USER", "root")
        dj.config["database.password"] = os.environ.get("DJ_PASS", "password")
        out_dir = pathlib.Path(args.out or tempfile.mkdtemp(prefix="dj_demo_"))
        schema_name = args.schema or f"demo_pipeline_{os.getpid()}_{secrets.token_hex(3)}"
        drop_at_end = not args.keep
    out_dir.mkdir(parents=True, exist_ok=True)

    n_channels, duration = size
    mb = n_channels * duration * SAMPLING_RATE * 4 / 1e6
    print(f"datajoint_rs {dj.__version__} | backend: {backend}")
    with step("connect"):
        conn = dj.conn()
    print(f"connection: {conn!r}")
    print(
        f"schema: {schema_name} | {len(SESSIONS)} sessions, recordings of {n_channels} channels"
        f" x {duration:g} s at {SAMPLING_RATE:g} Hz ({mb:.1f} MB each)"
    )

    schema = dj.Schema(schema_name)
    try:
        with step("declare 6 tables"):
            AnalysisParams, Subject, Session, Recording, Features = declare(schema, size)

        with step("insert subjects and sessions"):
            Subject.insert(SUBJECTS, skip_duplicates=True)
            Session.insert(
                (
                    dict(subject_id=s, session_idx=i, session_date=d, experimenter=e)
                    for s, i, d, e in SESSIONS
                ),
                skip_duplicates=True,
            )

        populate_args = dict(reserve_jobs=True, processes=args.processes, display_progress=True)
        for table in (Recording, Features):
            with step(f"populate {table.__name__}"):
                result = table.populate(**populate_args)
            sys.stderr.flush()
            print(
                f"{table.__name__}.populate: {result['success_count']} made, "
                f"{len(result['error_list'])} errors, {len(table())} rows"
            )
            if result["error_list"]:
                for key, error in result["error_list"][:3]:
                    print(f"  {key}: {error}")
                return 1

        with step("queries"):
            print("\n=== queries")
            show("restriction: female subjects", Subject & "sex = 'F'")
            show(
                "restriction by a query: sessions of female subjects after 2024-05-01",
                (Session & (Subject & "sex = 'F'")) & "session_date > '2024-05-01'",
            )
            show(
                "join + proj: recordings with their subject (signal left out)",
                (Subject * Recording).proj("species", "n_channels", "duration", "sampling_rate"),
            )
            show(
                "aggr: spikes per subject and band (summed over sessions and channels)",
                (Subject.proj() * AnalysisParams.proj()).aggr(
                    Features.Channel,
                    channels="count(*)",
                    spikes="sum(spike_count)",
                    max_rate="max(spike_rate)",
                )
                * AnalysisParams.proj("band"),
            )
            show(
                "proj with arithmetic: theta power in dB per channel, session M001/1",
                (Features.Channel & dict(subject_id="M001", session_idx=1, param_id=1)).proj(
                    "spike_count", "spike_rate", power_db="round(10 * log10(band_power), 2)"
                ),
            )
            strongest = (Features.Channel * AnalysisParams & "band = 'gamma'").fetch(
                "subject_id",
                "session_idx",
                "channel",
                "band_power",
                order_by="band_power DESC",
                limit=3,
            )
            print("\n--- fetch: the 3 channels with the most gamma power")
            for subject_id, session_idx, channel, power in zip(*strongest, strict=True):
                print(
                    f"    {subject_id} session {session_idx} channel {channel}: {power:.3g} µV²/Hz"
                )
            signal = (Recording & dict(subject_id="M001", session_idx=1)).fetch1("signal")
            print(
                f"\n--- fetch1: Recording M001/1 signal {signal.dtype} {signal.shape}, "
                f"{signal.nbytes / 1e6:.1f} MB, std {signal.std():.1f} µV"
            )
            totals = {t.__name__: len(t()) for t in (Subject, Session, Recording, Features)}
            totals["Features.Channel"] = len(Features.Channel())
            print("\nrow counts: " + ", ".join(f"{k} {v}" for k, v in totals.items()))

        with step("diagram"):
            # made here: the diagram names tables by the classes in its caller's namespace
            diagram_path = save_diagram(dj.Diagram(schema), out_dir)
        print(f"diagram: {diagram_path}")
        if backend == "sqlite":
            print(f"database: {getattr(conn, 'path', dj.config['database.path'])}")
    finally:
        if drop_at_end:
            t0 = time.perf_counter()
            schema.drop(force=True)
            timings.append(("drop schema", time.perf_counter() - t0))

    print("\n=== timings")
    for name, seconds in timings:
        print(f"  {name:<32} {seconds:8.3f} s")
    print(f"  {'total':<32} {sum(t for _, t in timings):8.3f} s")
    print("demo: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
