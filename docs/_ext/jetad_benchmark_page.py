"""The benchmarks page, generated from ``benchmarks/results/*.json`` at every build.

``docs/conf.py`` writes :func:`benchmark_results_rst` to
``docs/_generated/benchmark_results.rst`` (not committed), which
``docs/benchmarks.rst`` includes: every number on the page is read from the
committed result files, and no absolute path of the machine that ran a
benchmark reaches the page (:func:`strip_machine_paths`).
"""

import os
import re


def _committed_results(results_dir):
    """Result files under ``results_dir`` that git tracks (all files outside a checkout).

    The documentation quotes committed results only, so that a local build
    shows what a fresh clone (and CI) shows.
    """
    import subprocess
    from pathlib import Path

    results_dir = Path(results_dir)
    files = sorted(p for p in results_dir.glob("*") if p.suffix in (".json", ".md", ".png"))
    try:
        out = subprocess.run(["git", "ls-files", "--", "."],
                             cwd=results_dir, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return files
    if out.returncode != 0:
        return files
    tracked = {Path(line).name for line in out.stdout.split()}
    return [p for p in files if p.name in tracked]


def _escape(text):
    """Free text from a result file, safe inside reST paragraphs."""
    text = str(text)
    for ch in ("\\", "*", "`", "|", "_"):
        text = text.replace(ch, "\\" + ch)
    return text


def _last_commit(path):
    """``"<short hash> (<date>): <subject>"`` of the last commit that touched ``path``."""
    import subprocess

    try:
        out = subprocess.run(["git", "log", "-1", "--format=%h (%cs): %s", "--", path.name],
                             cwd=path.parent, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _fmt(value, digits=3):
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v, digits) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    if isinstance(value, int) and abs(value) >= 10000:
        return f"{value:,}"
    return _escape(value)


def _table(header, rows):
    """A reST list-table."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines) + "\n"


def _provenance(data):
    machine = data.get("machine", {})
    versions = data.get("versions", {})
    items = []
    if "command" in data:
        items.append(f"command: ``{data['command']}``")
    date = data.get("date_utc") or data.get("date")
    if date:
        items.append(f"date: {_escape(date)}")
    if machine:
        desc = ", ".join(f"{k}={_escape(machine[k])}" for k in ("cpu", "cpu_count", "platform")
                         if machine.get(k))
        if desc:
            items.append(f"machine: {desc}")
        load = machine.get("load_average_1min_at_start", machine.get("load_average_before"))
        if load is not None:
            items.append(f"load average at start: {_fmt(load)}")
    env = data.get("environment")
    if isinstance(env, dict) and env:
        items.append("environment: " + ", ".join(f"{_escape(k)} {_escape(v)}"
                                                 for k, v in env.items()))
    if versions:
        items.append("versions: " + ", ".join(f"{_escape(k)} {_escape(v)}"
                                              for k, v in versions.items()))
    if data.get("notes"):
        items.append(f"notes: {_escape(data['notes'])}")
    return "".join(f"* {item}\n" for item in items)


def _generation_tables(data):
    out = []
    e2e = data.get("end_to_end", {})
    if e2e:
        rows = [[kind, _fmt(r.get("n_jets")), _fmt(r.get("repeats")),
                 _fmt(r.get("jets_per_cpu_s_median")), _fmt(r.get("jets_per_s_median")),
                 _fmt(r.get("selection_efficiency_median")),
                 _fmt(r.get("mean_n_constituents_median")),
                 _fmt(r.get("median_jet_mass_gev"))] for kind, r in e2e.items()]
        out.append("End to end (Pythia 8 + detector response + FastJet + selection), "
                   "one worker process, medians over the repeats:\n\n")
        out.append(_table(["kind", "jets", "repeats", "jets per CPU-second",
                           "jets per second (wall)", "selection efficiency",
                           "mean constituents", "median jet mass (GeV)"], rows))
    det = data.get("detector_response", {})
    if det:
        rows = [[kind, _fmt(r.get("n_events")), _fmt(r.get("visible_particles_per_event")),
                 _fmt(r.get("eflow_objects_per_event")),
                 _fmt(r.get("detector_cpu_ms_per_event_median")),
                 _fmt(r.get("pythia_events_per_cpu_s"))] for kind, r in det.items()]
        out.append("\nDetector response alone:\n\n")
        out.append(_table(["kind", "events", "visible particles per event",
                           "energy-flow objects per event", "detector CPU ms per event",
                           "Pythia events per CPU-second"], rows))
    target = data.get("target")
    if target:
        out.append("\nTarget: " + ", ".join(f"``{k}`` = {_fmt(v)}" for k, v in target.items())
                   + ".\n")
    return "".join(out)


def _preprocessing_tables(data):
    res = data.get("results", [])
    if not res:
        return ""
    d = data.get("data", {})
    out = []
    if d:
        out.append(f"Data: {_escape(d.get('description', ''))} ({_fmt(d.get('n_jets'))} jets, "
                   f"mean {_fmt(d.get('mean_constituents'))} constituents). "
                   f"Threads: {_fmt(data.get('threads'))}.\n\n")
    rows = [[f"``{r.get('name')}``", _fmt(r.get("repeats")), _fmt(r.get("jets_per_second_cpu")),
             _fmt(r.get("jets_per_second_wall")), _fmt(r.get("target_jets_per_second")),
             _fmt(r.get("meets_target_cpu"))] for r in res]
    out.append(_table(["transformer", "repeats", "jets per CPU-second",
                       "jets per second (wall)", "target (jets/s)", "target met (CPU)"], rows))
    return "".join(out)


def _latent_vae_tables(data):
    out = []
    cfg = data.get("config", {})
    if cfg.get("reduced_note"):
        out.append(f"**{_escape(cfg['reduced_note'])}**\n\n")
    bal = data.get("balanced_top_vs_qcd", {})
    rows = []
    for model, res in bal.items():
        if not isinstance(res, dict):
            continue
        for score, val in res.items():
            if isinstance(val, dict) and "auc" in val:
                rows.append([model, f"``{score}``", _fmt(val["auc"]), _fmt(val.get("auc_max", ""))])
    if rows:
        out.append("Balanced top-vs-QCD sample, AUC of each score with top as signal "
                   "(``auc``) and ``auc_max`` as recorded by the script (the better of the "
                   "two orientations, for scores whose orientation is not fixed without "
                   "labels):\n\n")
        out.append(_table(["model", "score", "auc", "auc_max"], rows))
    return "".join(out)


def _pm(mean, err=None, digits=3):
    """``mean ± err`` (``mean`` alone where the file records no error)."""
    if mean is None:
        return "–"
    if not isinstance(err, (int, float)) or err == 0:
        return _fmt(mean, digits)
    return f"{_fmt(mean, digits)} ± {_fmt(err, 2 if abs(err) < 100 else digits)}"


def _rejection(r, value_key="rejection", error_key=None):
    """1/ε_B with its 68 % CL interval and the passing count k of N_B, where recorded.

    Falls back to ``value ± error`` for files written before the counts were kept.
    """
    k, n = r.get("n_background_pass"), r.get("n_background")
    if k is None or n is None or r.get("rejection_low") is None:
        return _pm(r.get(value_key), r.get(error_key) if error_key else None)
    flag = " ⚠" if k < 10 else ""
    if r.get("rejection_bounded") or r.get("rejection_high") is None:
        return f"≥ {_fmt(r['rejection_low'])} (k = 0 of {_fmt(n)}){flag}"
    return (f"{_fmt(r['rejection'])} [{_fmt(r['rejection_low'])}, "
            f"{_fmt(r['rejection_high'])}], k = {_fmt(k)} of {_fmt(n)}{flag}")


def _throughput_rows(per_threads):
    rows = []
    for threads, by_det in per_threads:
        for det, r in by_det.items():
            rows.append([f"``{det}``", _fmt(threads), _fmt(r.get("train_jets_per_s")),
                         _fmt(r.get("score_jets_per_s"))])
    return rows


def _detector_throughput_tables(data):
    per = sorted((int(k.rsplit("_", 2)[-2]), v) for k, v in data.items()
                 if k.startswith("throughput_cpu_") and k.endswith("_threads"))
    if "throughput_cpu" in data:
        per.append((data.get("machine", {}).get("torch_threads", "?"), data["throughput_cpu"]))
    if not per:
        return "(no ``throughput_cpu*`` entry in this file)\n"
    return ("Training and scoring rate (median over the repeats, jets per second, "
            "40×40 images):\n\n"
            + _table(["detector", "torch threads", "training (jets/s)", "scoring (jets/s)"],
                     _throughput_rows(per)))


_TAGGING_NAMES = {"top_as_anomaly": ("top as anomaly, trained on QCD", "top"),
                  "qcd_as_anomaly": ("QCD as anomaly, trained on top", "qcd")}


def _detectors_tables(data):
    out = [_detector_throughput_tables(data) + "\n"] if "throughput_cpu" in data else []
    tag, paper = data.get("tagging", {}), data.get("paper_ae", {})
    rows = []
    for key, (text, short) in _TAGGING_NAMES.items():
        r = tag.get(key)
        if not r:
            continue
        p = paper.get(short, {})
        rows.append([f"AE, {text}", _fmt(r.get("auc")),
                     _rejection(r, "rejection_at_0.2", "rejection_at_0.2_stat_err"),
                     f"{_fmt(p.get('auc', '–'))} / {_fmt(p.get('rejection', '–'))}"])
        sign = "−mean(x²)" if short == "top" else "mean(x²)"
        best = "baseline_minus_mean_x2" if short == "top" else "baseline_mean_x2"
        rows.append([f"{sign} alone, {text.split(',')[0]}", _fmt(r.get(f"{best}_auc")),
                     _rejection({f"{best}_rejection": r.get(f"{best}_rejection"),
                                 **r.get("baselines", {}).get(sign, {})},
                                f"{best}_rejection"), "–"])
    if rows:
        out.append("Tagging (AUC; 1/ε_B at ε_S = 0.2 with its 68 % CL Clopper–Pearson interval "
                   "and k, the test background jets passing the cut, of N_B; ⚠: k < 10; "
                   "older files: the binomial error):\n\n")
        out.append(_table(["result", "AUC", "1/ε_B", "paper AUC / 1/ε_B"], rows))
    return "".join(out) or "(no ``tagging`` entry in this file)\n"


_NAE_ROWS = (("NAE", "NAE"), ("AE", "its pre-trained AE"),
             ("minus_mean_x2", "−mean(x²) alone"), ("mean_x2", "mean(x²) alone"))


def _nae_tables(data):
    summary, paper = data.get("summary", {}), data.get("paper", {})
    rows = []
    for direction, s in summary.items():
        name = _TAGGING_NAMES.get(f"{direction}_as_anomaly", (direction,))[0]
        for key, text in _NAE_ROWS:
            r = s.get(key)
            if not isinstance(r, dict):
                continue
            p = paper.get(direction, {}).get(key, {})
            ks = r.get("n_background_pass_per_seed") or []
            counts = (f"{_fmt(ks)} of {_fmt(r.get('n_background'))}"
                      + (" ⚠" if min(ks) < 10 else "")
                      if ks and None not in ks else "–")
            rows.append([f"{text}, {name}", _fmt(s.get("n_seeds")),
                         _pm(r.get("auc_mean"), r.get("auc_std")),
                         _pm(r.get("rejection_mean"), r.get("rejection_std")), counts,
                         f"{_fmt(p['auc'])} / {_fmt(p['rejection'])}" if p else "–"])
    if not rows:
        return "(no ``summary`` entry in this file)\n"
    return ("Mean ± sample standard deviation (ddof = 1) over the seeds (AUC; 1/ε_B at "
            "ε_S = 0.2), and per seed k, the test background jets passing the cut, of N_B "
            "(⚠: k < 10; the per-seed 68 % CL intervals are in ``nae.md``):\n\n"
            + _table(["result", "seeds", "AUC", "1/ε_B", "k per seed", "paper AUC / 1/ε_B"],
                     rows))


def _export_tables(data):
    rows = []
    for det, r in data.get("detectors", {}).items():
        lat, thr = r.get("latency_batch1", {}), r.get("throughput_batch1024", {})
        rows.append([f"``{det}``", _fmt(r.get("multiply_accumulates_per_jet", {}).get("total")),
                     _fmt(lat.get("onnxruntime", {}).get("median_us")),
                     _fmt(thr.get("onnxruntime", {}).get("median_jets_per_s")),
                     _fmt(thr.get("torch_anomaly_score", {}).get("median_jets_per_s")),
                     _fmt(r.get("max_abs_diff_over_max_score"))])
    if not rows:
        return "(no ``detectors`` entry in this file)\n"
    return ("ONNX export: per-jet latency at batch size 1 and rate at batch size 1024 "
            "(medians):\n\n"
            + _table(["detector", "multiply-accumulates per jet", "ONNX latency (µs)",
                      "ONNX (jets/s)", "torch ``anomaly_score`` (jets/s)",
                      "max abs(ONNX − torch) / max score"], rows))


def _dask_tables(data):
    rows = [[_escape(k.replace("_", " ")), _fmt(v.get("median_jets_per_s"))]
            for k, v in data.get("jets_per_s", {}).items() if isinstance(v, dict)]
    if not rows:
        return "(no ``jets_per_s`` entry in this file)\n"
    return ("Scoring through dask (median jets per second):\n\n"
            + _table(["how", "jets/s"], rows))


def _nae_fixture_study_tables(runs):
    import statistics

    by_setting = {}
    for r in runs:
        if isinstance(r, dict) and "setting" in r:
            by_setting.setdefault(r["setting"], []).append(r)
    rows = []
    for setting, rs in by_setting.items():
        def ms(key, rs=rs):
            vals = [r[key] for r in rs if isinstance(r.get(key), (int, float))]
            if not vals:
                return "–"
            return _pm(statistics.fmean(vals),
                       statistics.stdev(vals) if len(vals) > 1 else None)
        rows.append([f"``{setting}``", _fmt(len(rs)), ms("auc_ae"), ms("auc_nae"), ms("gain"),
                     ms("auc_x2"), _fmt(sum(bool(r.get("healthy")) for r in rs))])
    if not rows:
        return "(no runs with a ``setting`` in this file)\n"
    return ("QCD-as-anomaly AUC on the test fixtures' jets, mean ± standard deviation over "
            "the seeds:\n\n"
            + _table(["setting", "seeds", "AE AUC", "NAE AUC", "NAE − AE", "mean(x²) AUC",
                      "healthy runs"], rows))


_RENDERERS = {"generation": _generation_tables, "preprocessing": _preprocessing_tables,
              "latent_vae": _latent_vae_tables, "detectors": _detectors_tables,
              "detector_throughput": _detector_throughput_tables, "nae": _nae_tables,
              "export": _export_tables, "dask": _dask_tables,
              "nae_fixture_study": _nae_fixture_study_tables}

#: The result files whose numbers the README quotes; the page says when one is missing.
EXPECTED_RESULTS = ("generation.json", "preprocessing.json", "detector_throughput.json",
                    "detectors.json", "nae.json", "latent_vae.json", "export.json", "dask.json",
                    "nae_fixture_study.json")

_ABS_PATH = re.compile(r"(?<![\w.:/~$\\-])(?:~|[A-Za-z]:)?[/\\][^\s'\"`<>|/\\][^\s'\"`<>|]*")


def _basename(match):
    parts = [p for p in re.split(r"[/\\]", match.group(0)) if p]
    return parts[-1] if parts else ""


def strip_machine_paths(text):
    """``text`` with every absolute path cut to its last component (its basename).

    Result files record commands and sources as the machine that ran them saw
    them; the page must not show that machine's folders. Relative paths and
    URLs are kept.
    """
    return _ABS_PATH.sub(_basename, text)


def _list_provenance(runs):
    """Provenance of a file that is a list of runs: their commands, dates and versions."""
    commands = sorted({r["command"] for r in runs if isinstance(r, dict) and r.get("command")})
    dates = sorted(str(r["date"]) for r in runs if isinstance(r, dict) and r.get("date"))
    versions = next((r["versions"] for r in runs if isinstance(r, dict) and r.get("versions")),
                    {})
    items = [f"command: ``{c}``" for c in commands]
    if dates:
        items.append(f"dates: {_escape(dates[0])} to {_escape(dates[-1])}")
    if versions:
        items.append("versions: " + ", ".join(f"{_escape(k)} {_escape(v)}"
                                              for k, v in versions.items()))
    return "".join(f"* {item}\n" for item in items)


def _meta_provenance(data):
    """Provenance of a file that keeps it under ``meta`` (``nae.json``)."""
    meta = data.get("meta")
    if not isinstance(meta, dict):
        return ""
    flat = {k: v for k, v in meta.items() if isinstance(v, (str, int, float)) and k in
            ("jetad", "torch", "machine", "cpu_count", "config_digest")}
    items = []
    if flat:
        items.append("versions and machine: " + ", ".join(f"{_escape(k)} {_escape(v)}"
                                                           for k, v in flat.items()))
    params = meta.get("config", {}).get("params")
    if params:
        items.append("detector parameters: " + ", ".join(f"``{k}={v}``"
                                                         for k, v in params.items()))
    return "".join(f"* {item}\n" for item in items)


def benchmark_results_rst(results_dir, docs_dir):
    """reST for the committed files of ``benchmarks/results``: provenance, tables, links."""
    import json
    from pathlib import Path

    files = _committed_results(results_dir)
    if not files:
        return "No benchmark results are committed yet.\n"
    parts = [_missing_note(files)]
    for path in [p for p in files if p.suffix != ".png"] + [p for p in files if p.suffix == ".png"]:
        rel = os.path.relpath(path, docs_dir).replace(os.sep, "/")
        title = f"``{path.name}``"
        parts.append(f"{title}\n{'-' * len(title)}\n\n")
        if path.suffix == ".png":
            commit = _last_commit(path)
            parts.append(f".. figure:: {rel}\n   :width: 100%\n\n"
                         f"   {_escape(commit) if commit else _escape(path.name)}\n\n")
            continue
        parts.append(f":download:`Download {path.name} <{rel}>`\n\n")
        if path.suffix == ".md":
            text = Path(path).read_text(encoding="utf-8")
            # included as it is (MyST), unless headings could clash with this page's
            if not any(line.lstrip().startswith("#") for line in text.splitlines()):
                parts.append(f".. include:: {rel}\n   :parser: myst_parser.sphinx_\n\n")
            continue
        if path.suffix != ".json":
            continue
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            parts.append(f"(not readable as JSON: {exc})\n\n")
            continue
        parts.append(_json_section(path, data))
    return strip_machine_paths("".join(parts))


def _missing_note(files):
    """A line naming the expected result files that are not committed."""
    have = {p.name for p in files}
    missing = [name for name in EXPECTED_RESULTS if name not in have]
    if not missing:
        return ""
    return ("Not committed yet, so not shown: "
            + ", ".join(f"``{name}``" for name in missing) + ".\n\n")


def _json_section(path, data):
    """Provenance and tables of one result file (a dict, or a list of runs)."""
    if isinstance(data, list):
        provenance = _list_provenance(data)
    elif isinstance(data, dict):
        provenance = _provenance(data) or _meta_provenance(data)
    else:
        return "(neither an object nor a list of runs; see the file itself)\n\n"
    stem = data.get("benchmark", path.stem) if isinstance(data, dict) else path.stem
    render = _RENDERERS.get(os.path.splitext(str(stem))[0].removeprefix("bench_"))
    if render is None:
        return provenance + "\n"
    try:
        return provenance + "\n" + render(data) + "\n"
    except (AttributeError, KeyError, TypeError, ValueError):
        return provenance + ("\n(this file's layout is not the one the documentation "
                             "knows; see the file itself)\n\n")
