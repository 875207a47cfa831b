"""Many jobs with the models loaded once per worker (``sst batch``): grids, pairs or a manifest.

Each job is one :func:`~sst.core.transfer.transfer` through a :class:`~sst.core.stylist.Stylist` that its
worker keeps for those options. ``DIR/batch.json`` records every job (inputs, options, status, seconds,
error) and is rewritten atomically as each job finishes; a job whose result and sidecar exist and agree,
made from the same inputs (by sha256) and options, is skipped when the batch runs again. A failing job is
recorded with its one-line error and the others go on. Workers: this process (default), a local process
pool (``workers``), or Ray tasks on a local or remote cluster (``backend="ray"``, the ``ray`` extra).
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import time
import tomllib
import typing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from sst.core.errors import SSTError
from sst.core.grid import labelled_grid
from sst.core.images import IMAGE_SUFFIXES, load_image, resize, save_image, write_atomic
from sst.core.models import file_sha256
from sst.core.options import TransferOptions, normalised
from sst.core.ray_cluster import start_ray, threads_per_worker

BACKENDS = ("local", "ray")
OVERRIDABLE = {f.name for f in fields(TransferOptions)}
HINTS = typing.get_type_hints(TransferOptions)


@dataclass(frozen=True)
class Job:
    """One result: ``content`` in the style of ``styles``, written to ``output``, with option overrides."""

    name: str
    content: Path
    styles: tuple[Path, ...]
    output: Path
    overrides: tuple[tuple[str, Any], ...] = ()  # (field, value) of TransferOptions

    def options(self, base: TransferOptions) -> TransferOptions:
        return replace(base, **dict(self.overrides))


@dataclass
class Batch:
    """The jobs and, for a grid, its contents and styles (the contact sheet's rows and columns)."""

    jobs: list[Job]
    contents: list[Path] = field(default_factory=list)
    styles: list[Path] = field(default_factory=list)


def expand(patterns: Sequence[str | os.PathLike[str]], what: str) -> list[Path]:
    """Image files named by ``patterns``: files, folders (their images, sorted) or globs."""
    found: list[Path] = []
    for pattern in map(str, patterns):
        path = Path(pattern)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            matched = sorted(Path(p) for p in glob.glob(pattern) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
            if not matched:
                raise SSTError(f"no {what} image found at {pattern}; give files, folders or globs")
            found += matched
    if not found:
        raise SSTError(f"no {what} image given")
    return found


def result_path(out: Path, content: Path, styles: Sequence[Path]) -> Path:
    return out / f"{content.stem}__{'+'.join(s.stem for s in styles)}.png"


def grid(contents: Sequence[Path], styles: Sequence[Path], out: Path) -> Batch:
    """Every content with every style."""
    jobs = [Job(result_path(out, c, [s]).stem, c, (s,), result_path(out, c, [s])) for c in contents for s in styles]
    return Batch(jobs, list(contents), list(styles))


def pairs(contents: Sequence[Path], styles: Sequence[Path], out: Path) -> Batch:
    """Each content with the style of the same stem."""
    by_stem = {s.stem: s for s in styles}
    missing = [c.name for c in contents if c.stem not in by_stem]
    if missing:
        raise SSTError(f"--pairs: no style named like {', '.join(missing)}; name each style as its content")
    return Batch([Job(result_path(out, c, [by_stem[c.stem]]).stem, c, (by_stem[c.stem],),
                      result_path(out, c, [by_stem[c.stem]])) for c in contents])


def manifest(path: Path, out: Path) -> Batch:
    """Jobs from a CSV (columns content, styles separated by ';', other columns option overrides), JSON
    Lines or TOML (``[[job]]`` tables) file; paths are relative to the manifest's folder."""
    if not path.is_file():
        raise SSTError(f"manifest not found: {path}; check the path")
    try:
        text = path.read_text()
        if path.suffix == ".csv":
            rows = [{k: v for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(text.splitlines())]
            for row in rows:
                row["styles"] = row.get("styles", "").split(";")
        elif path.suffix == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        elif path.suffix == ".toml":
            rows = tomllib.loads(text).get("job", [])
        else:
            raise SSTError(f"manifest {path} must be .csv, .jsonl or .toml")
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise SSTError(f"manifest {path} cannot be read ({exc}); fix it") from None
    jobs = []
    for i, row in enumerate(rows, start=1):
        row = dict(row)
        content, styles = row.pop("content", None), row.pop("styles", None) or row.pop("style", None)
        if not content or not styles:
            raise SSTError(f"manifest {path}, job {i}: needs a content and styles")
        styles = [styles] if isinstance(styles, str) else list(styles)
        unknown = set(row) - OVERRIDABLE - {"output"}
        if unknown:
            raise SSTError(f"manifest {path}, job {i}: unknown option(s) {', '.join(sorted(unknown))}")
        base = path.parent
        c, s = base / content, tuple(base / p for p in styles)
        output = out / row.pop("output") if "output" in row else result_path(out, c, s)
        overrides = tuple(sorted((k, _typed(k, v, base)) for k, v in row.items()))
        jobs.append(Job(output.stem, c, s, output, overrides))
    if not jobs:
        raise SSTError(f"manifest {path} lists no job")
    return Batch(jobs)


def _typed(name: str, value: Any, base: Path) -> Any:
    """A manifest's value as the field's type (CSV gives strings); map paths relative to the manifest."""
    if name == "content_map":
        return base / value
    if name == "style_maps":
        return tuple(base / p for p in (value.split(";") if isinstance(value, str) else value))
    kinds = {t for t in typing.get_args(HINTS[name]) or (HINTS[name],)} - {type(None)}
    if not isinstance(value, str) or str in kinds:
        return value
    try:
        if bool in kinds:
            return value.lower() in ("1", "true", "yes")
        return int(value) if int in kinds else float(value)
    except ValueError:
        raise SSTError(f"manifest option {name}={value!r} is not a number") from None


def job_key(job: Job, options: TransferOptions) -> str:
    """sha256 of the job's inputs (by content) and options: a job is redone when either changes."""
    o = job.options(options)
    inputs = [job.content, *job.styles, *([o.content_map] if o.content_map else []), *o.style_maps]
    record = {"inputs": [file_sha256(Path(p)) if Path(p).is_file() else str(p) for p in inputs],
              "options": json.loads(json.dumps(asdict(o), default=str)), "output": str(job.output)}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def finished(job: Job, record: dict | None, key: str) -> bool:
    """The job's result and sidecar exist, agree (the image's sha256), and came from these inputs and options."""
    if not record or record.get("status") != "done" or record.get("key") != key:
        return False
    sidecar = job.output.with_suffix(".json")
    try:
        return job.output.is_file() and json.loads(sidecar.read_text()).get("image_sha256") == file_sha256(job.output)
    except (OSError, ValueError):
        return False


# -- workers --------------------------------------------------------------------------------------------

def run_job(job: Job, options: TransferOptions, on_level: Callable | None = None) -> dict:
    """One job in this process, with this process's pipeline for its options; never raises for the job's
    own failure: the result says ``failed`` and the one-line error."""
    from sst.core.stylist import kept_stylist
    from sst.core.transfer import transfer

    started = time.perf_counter()
    try:
        transfer(job.content, job.styles, job.output, stylist=kept_stylist(job.options(options)), on_level=on_level)
        return {"status": "done", "seconds": time.perf_counter() - started, "error": None}
    except SSTError as exc:
        return {"status": "failed", "seconds": time.perf_counter() - started, "error": str(exc)}
    except (OSError, ValueError, RuntimeError) as exc:
        return {"status": "failed", "seconds": time.perf_counter() - started, "error": f"{type(exc).__name__}: {exc}"}


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _local(jobs: list[Job], options: TransferOptions, workers: int,
           on_level: Callable | None) -> Iterator[tuple[Job, dict]]:
    if workers <= 1:
        for job in jobs:
            yield job, run_job(job, options, on_level)
        return
    import multiprocessing

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    threads = threads_per_worker(workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), initializer=_init_worker,
                             initargs=(threads,)) as pool:
        futures = {pool.submit(run_job, job, options): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _ray(jobs: list[Job], options: TransferOptions, workers: int, address: str | None) -> Iterator[tuple[Job, dict]]:
    ray = start_ray(address)
    gpus = 1 if options.device.startswith("cuda") else 0
    threads = threads_per_worker(workers)

    @ray.remote(num_gpus=gpus, num_cpus=threads)
    class Worker:
        """One pipeline per actor: the models load once on its node (into that node's model cache)."""

        def __init__(self) -> None:
            _init_worker(threads)

        def run(self, job: Job) -> dict:
            return run_job(job, options)

    actors = [Worker.remote() for _ in range(max(1, workers))]
    pending = {actors[i % len(actors)].run.remote(job): job for i, job in enumerate(jobs)}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            yield pending.pop(ref), ray.get(ref)


# -- the batch ------------------------------------------------------------------------------------------

@dataclass
class BatchReport:
    records: dict[str, dict]  # job name -> its record in batch.json
    manifest: Path
    contact_sheet: Path | None

    @property
    def failed(self) -> list[str]:
        return [name for name, r in self.records.items() if r["status"] == "failed"]


def run_batch(
    batch: Batch, out: Path, options: TransferOptions | None = None, *, workers: int = 1, backend: str = "local",
    address: str | None = None, retry_failed: bool = False, notice: Callable[[str], None] = lambda m: None,
    on_job: Callable[[Job, dict], None] = lambda job, record: None, on_level: Callable | None = None,
) -> BatchReport:
    """Run every job not already finished; write ``out/batch.json`` as jobs finish and, for a grid,
    ``out/contact.png``. ``on_level`` (the level bars) is used in this process only."""
    options = normalised(options or TransferOptions())
    if backend not in BACKENDS:
        raise SSTError(f"--backend must be one of {', '.join(BACKENDS)}")
    if workers < 1:
        raise SSTError("--workers must be at least 1")
    if out.exists() and not out.is_dir():
        raise SSTError(f"{out} exists and is not a folder; choose another -o")
    names = [job.name for job in batch.jobs]
    if len(set(names)) != len(names):
        raise SSTError("two jobs would write the same result; give the styles or contents distinct names")
    for job in batch.jobs:
        normalised(job.options(options))  # an override no run could take fails the batch before any work
    out.mkdir(parents=True, exist_ok=True)
    path = out / "batch.json"
    try:
        previous = json.loads(path.read_text())["jobs"] if path.exists() else {}
    except (OSError, ValueError, KeyError):
        previous = {}
    records: dict[str, dict] = {}
    todo = []
    for job in batch.jobs:
        key = job_key(job, options) if job.content.is_file() else ""
        record = {"content": str(job.content), "styles": [str(s) for s in job.styles], "output": str(job.output),
                  "overrides": dict(job.overrides), "key": key}
        old = previous.get(job.name)
        if finished(job, old, key) or (old and old.get("status") == "failed" and old.get("key") == key
                                       and not retry_failed):
            records[job.name] = {**old, "skipped": True}
        else:
            records[job.name] = {**record, "status": "pending", "seconds": None, "error": None}
            todo.append(job)
    skipped = len(batch.jobs) - len(todo)
    if skipped:
        notice(f"{skipped} of {len(batch.jobs)} jobs already done (or failed: --retry-failed reruns them); skipped")

    def save() -> None:
        write_atomic(path, (json.dumps({"options": asdict(options), "jobs": records}, indent=2, default=str)
                            + "\n").encode())

    save()
    runs = (_ray(todo, options, workers, address) if backend == "ray"
            else _local(todo, options, workers, on_level))
    for job, result in runs:
        records[job.name] = {**records[job.name], **result, "skipped": False}
        save()
        on_job(job, records[job.name])
    sheet = contact_sheet(batch, out / "contact.png") if batch.contents else None
    return BatchReport(records, path, sheet)


def contact_sheet(batch: Batch, path: Path, height: int = 160) -> Path:
    """Contents down, styles across, each result where they meet (blank where a job failed)."""
    blank = np.full((height, height * 4 // 3, 3), 255, np.uint8)

    width = height * 4 // 3  # every cell the same size, so that rows and columns line up

    def cell(image: np.ndarray) -> np.ndarray:
        scale = min(height / image.shape[0], width / image.shape[1])
        small = resize(image, (max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale))))
        canvas = np.full((height, width, 3), 255, np.uint8)
        y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
        canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
        return canvas

    def shown(label: str, image: Path) -> tuple[str, np.ndarray]:
        try:
            return label, cell(load_image(image))
        except SSTError:
            return f"{label} (unreadable)", blank

    tiles = [("", blank)] + [shown(f"style {s.stem}", s) for s in batch.styles]
    outputs = {(job.content, job.styles[0]): job.output for job in batch.jobs}
    for content in batch.contents:
        tiles.append(shown(content.stem, content))
        for style in batch.styles:
            result = outputs[(content, style)]
            tiles.append(("", cell(load_image(result)) if result.is_file() else blank))
    save_image(path, labelled_grid(tiles, height, columns=len(batch.styles) + 1))
    return path
