"""Operators edit the agents' prompts: every edit a new version, any version current again by a rollback.

The files ``prompts/<agent>.yaml`` stay the defaults; an edit overrides its file
until a rollback to the file's version returns to it. Versions are numbered after
the file's version and after every stored one, and never given twice (a rollback
makes an existing version current: it numbers nothing). Every change is audited
with a unified diff of the YAML of the prompt it replaced and of the new one, and
bumps the generation that tells every process to read the pointers again
(``convoinsight.llm.prompt_records`` has the storage layout).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from typing import Any

import yaml

from convoinsight.clock import now_iso
from convoinsight.errors import Conflict, NotFound
from convoinsight.llm import prompt_checks
from convoinsight.llm import prompt_records as records
from convoinsight.llm.prompts import AGENTS, Prompt, PromptStore, parse_prompt
from convoinsight.observability import audit

MAX_ATTEMPTS = 100  # racing writers: each lost round means another writer won one, so this bounds contention
MAX_DIFF_CHARS = 16_000
_ORDER = ("name", "version", "description", "parameters", "fallbacks", "system", "user_template", "output_schema")


def check_name(name: str) -> str:
    if name not in AGENTS:
        raise NotFound(f"no prompt named {name!r}; prompts: {', '.join(AGENTS)}", code="prompt_not_found")
    return name


def view(prompt: Prompt) -> dict[str, Any]:
    return {"name": prompt.name, "version": prompt.version, "source": prompt.source,
            "description": prompt.description, "system": prompt.system, "user_template": prompt.user_template,
            "output_schema": prompt.output_schema, "parameters": prompt.parameters,
            "fallbacks": list(prompt.fallbacks)}


def yaml_text(prompt: Prompt) -> str:
    """The prompt as a ``prompts/<agent>.yaml`` file would hold it (multi-line text as ``|`` blocks)."""
    data = prompt.data()
    return yaml.dump({key: data[key] for key in _ORDER}, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=120)


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _text)


def put(services, store: PromptStore, user_id: str, name: str, data: Any) -> dict[str, Any]:
    """Store ``data`` (checked) as a new version of ``name`` and make it current; 422 for a bad prompt."""
    check_name(name)
    clean = prompt_checks.checked(data, name, store)
    note = data.get("note") or None
    docs, file = services.documents, store.file_prompt(name)
    _keep_file_version(docs, file)
    version, created_at, changes = _create_version(docs, store, name, clean, file, user_id, note)
    prompt = dataclasses.replace(parse_prompt({**clean, "version": version}, f"{name} v{version}"), source="edit")
    previous = _move_pointer(docs, store, name, prompt, mode="stored", user_id=user_id)
    _changed(services, store)
    audit.record(services, user_id, "prompt.update", f"prompts/{name}", version=version,
                 previous_version=previous.version, previous_source=previous.source, note=note,
                 changes=changes, **_diff(previous, prompt))
    return {**view(prompt), "current": True, "previous_version": previous.version, "note": note,
            "changes": changes, "created_at": created_at, "created_by": user_id}


def rollback(services, store: PromptStore, user_id: str, name: str, version: int,
             note: str | None = None) -> dict[str, Any]:
    """Make ``version`` current again; the file's version returns to the file (and follows it from then on)."""
    check_name(name)
    docs, file = services.documents, store.file_prompt(name)
    if version == file.version:
        target, mode = file, "file"
    else:
        doc = docs.get(records.versions(name), records.version_id(version))
        if doc is None:
            raise NotFound(f"prompt {name!r} has no version {version}", code="prompt_version_not_found")
        target, mode = _prompt_of(doc), "stored"
    _keep_file_version(docs, file)
    previous = _move_pointer(docs, store, name, target, mode=mode, user_id=user_id)
    changed = previous is not None
    if previous is None:  # already current: nothing to move, nothing to tell the other processes
        previous = target
    else:
        _changed(services, store)
        audit.record(services, user_id, "prompt.rollback", f"prompts/{name}", version=version,
                     previous_version=previous.version, previous_source=previous.source, note=note,
                     **_diff(previous, target))
    return {**view(target), "current": True, "changed": changed, "previous_version": previous.version}


def list_versions(services, store: PromptStore, name: str, limit: int = 100,
                  before: int | None = None) -> dict[str, Any]:
    """Every version, newest first, paged by ``before`` (a version number): the file's, stored ones, the current."""
    check_name(name)
    docs, file = services.documents, store.file_prompt(name)
    current_version = _current_version(docs.get(records.POINTERS, name), file)
    after = (before, records.version_id(before)) if before is not None else None
    rows = docs.list(records.versions(name), order_by="version", descending=True, limit=limit + 1, after=after)
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [_entry(doc) for doc in rows]
    warnings = []
    stored_file = next((d for d in rows if d["version"] == file.version), None) or \
        docs.get(records.versions(name), records.version_id(file.version))
    if stored_file is None:
        if (before is None or file.version < before) and (not more or file.version > rows[-1]["version"]):
            entries.append(_file_entry(store, file))
            entries.sort(key=lambda e: e["version"], reverse=True)
            if len(entries) > limit:
                entries, more = entries[:limit], True
    elif stored_file.get("source") != "file":
        warnings.append(f"prompts/{name}.yaml has version {file.version}, a number an edit already has: give the "
                        "file a version above every edited one")
    for entry in entries:
        entry["current"] = entry["version"] == current_version
    return {"name": name, "current_version": current_version, "versions": entries,
            "next_before": entries[-1]["version"] if more and entries else None, "warnings": warnings}


def get_version(services, store: PromptStore, name: str, raw: str) -> tuple[Prompt, dict[str, Any]]:
    """One version whole (``raw``: "4" or "v4"): the prompt, and its view with when, who and whether current."""
    check_name(name)
    text = raw[1:] if raw[:1] in ("v", "V") else raw
    if not text.isdigit() or len(text) > 10:
        raise NotFound(f"prompt {name!r} has no version {raw!r}", code="prompt_version_not_found")
    version = int(text)
    docs, file = services.documents, store.file_prompt(name)
    doc = docs.get(records.versions(name), records.version_id(version))
    if version == file.version and (doc is None or doc.get("source") == "file"):
        prompt, meta = file, {**_file_entry(store, file), **({} if doc is None else _entry(doc))}
    elif doc is not None:
        prompt, meta = _prompt_of(doc), _entry(doc)
    else:
        raise NotFound(f"prompt {name!r} has no version {version}", code="prompt_version_not_found")
    current = _current_version(docs.get(records.POINTERS, name), file)
    return prompt, {**view(prompt), **{k: meta[k] for k in ("created_at", "created_by", "note", "changes")},
                    "current": version == current}


def _current_version(pointer: dict[str, Any] | None, file: Prompt) -> int:
    return int(pointer["version"]) if pointer and pointer.get("mode") == "stored" else file.version


def _entry(doc: dict[str, Any]) -> dict[str, Any]:
    return {"version": int(doc["version"]), "source": doc.get("source") or "edit",
            "created_at": doc.get("created_at"), "created_by": doc.get("created_by"), "note": doc.get("note"),
            "changes": doc.get("changes") or []}


def _file_entry(store: PromptStore, file: Prompt) -> dict[str, Any]:
    return {"version": file.version, "source": "file", "created_at": _file_time(store, file.name),
            "created_by": None, "note": f"prompts/{file.name}.yaml", "changes": []}


def _file_time(store: PromptStore, name: str) -> str | None:
    try:
        mtime = (store.directory / f"{name}.yaml").stat().st_mtime
    except OSError:
        return None
    return dt.datetime.fromtimestamp(mtime, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _prompt_of(doc: dict[str, Any]) -> Prompt:
    agent, version = doc["agent"], int(doc["version"])
    return dataclasses.replace(parse_prompt(records.prompt_data(doc), f"{agent} v{version}"),
                               source=doc.get("source") or "edit")


def _keep_file_version(docs, file: Prompt) -> None:
    """The file's version is stored the first time anything changes: it stays listed after a deploy replaces it."""
    data = {k: v for k, v in file.data().items() if k != "version"}
    try:
        docs.create(records.versions(file.name), records.version_id(file.version),
                    {**records.version_doc(file.name, file.version, data, source="file", created_at=now_iso(),
                                           created_by=None, note=f"prompts/{file.name}.yaml"), "changes": []})
    except Conflict:
        pass


def _create_version(docs, store: PromptStore, name: str, clean: dict[str, Any], file: Prompt, user_id: str,
                    note: str | None) -> tuple[int, str, list[str]]:
    """A new number: after the file's and every stored one; ``create`` makes a racing writer take the next."""
    latest = docs.list(records.versions(name), order_by="version", descending=True, limit=1)
    version = max(file.version, int(latest[0]["version"]) if latest else 0) + 1
    changes = _changes(_resolve(docs, store, name, docs.get(records.POINTERS, name)), clean)
    created_at = now_iso()
    for _ in range(MAX_ATTEMPTS):
        try:
            docs.create(records.versions(name), records.version_id(version),
                        {**records.version_doc(name, version, clean, source="edit", created_at=created_at,
                                               created_by=user_id, note=note), "changes": changes})
            return version, created_at, changes
        except Conflict:
            version += 1
    raise Conflict(f"too many edits of {name!r} at once; try again", code="prompt_edit_conflict")


def _move_pointer(docs, store: PromptStore, name: str, target: Prompt, *, mode: str,
                  user_id: str) -> Prompt | None:
    """Point ``name`` at ``target``: compare-and-set on ``seq``; the prompt it replaced (None: already there)."""
    for _ in range(MAX_ATTEMPTS):
        pointer = docs.get(records.POINTERS, name)
        previous = _resolve(docs, store, name, pointer)
        if (mode == "file" and (pointer is None or pointer.get("mode") == "file")) or (
                mode == "stored" and pointer and pointer.get("mode") == "stored"
                and int(pointer["version"]) == target.version):
            return None
        seq = int(pointer.get("seq") or 0) + 1 if pointer else 1
        new = records.pointer(name, mode=mode, version=target.version, source=target.source, seq=seq,
                              user_id=user_id, at=now_iso())
        if docs.put_if_newer(records.POINTERS, name, new, "seq"):
            return previous
    raise Conflict(f"too many changes of {name!r} at once; try again", code="prompt_edit_conflict")


def _resolve(docs, store: PromptStore, name: str, pointer: dict[str, Any] | None) -> Prompt:
    """The prompt a pointer makes current, read from the store itself (not this process's cache)."""
    if pointer and pointer.get("mode") == "stored":
        doc = docs.get(records.versions(name), records.version_id(int(pointer["version"])))
        if doc is not None:
            return _prompt_of(doc)
    return store.file_prompt(name)


def _changes(before: Prompt, after: dict[str, Any]) -> list[str]:
    """What an edit changes, by field (parameters by name): the summary the versions list shows."""
    old = before.data()
    out = []
    for key in ("description", "system", "user_template", "output_schema", "fallbacks"):
        if old[key] != after[key]:
            out.append(key)
    params_old, params_new = old["parameters"], after["parameters"]
    out += [f"parameters.{k}" for k in sorted(set(params_old) | set(params_new))
            if params_old.get(k, _MISSING) != params_new.get(k, _MISSING)]
    return out


_MISSING = object()


def _diff(before: Prompt, after: Prompt) -> dict[str, Any]:
    lines = difflib.unified_diff(yaml_text(before).splitlines(keepends=True),
                                 yaml_text(after).splitlines(keepends=True),
                                 fromfile=f"{before.name} v{before.version} ({before.source})",
                                 tofile=f"{after.name} v{after.version} ({after.source})")
    text = "".join(lines)
    return {"diff": text[:MAX_DIFF_CHARS], "diff_truncated": len(text) > MAX_DIFF_CHARS}


def _changed(services, store: PromptStore) -> None:
    store.invalidate()  # this process: at once
    records.bump_generation(services.redis)  # every other one: at its next check
