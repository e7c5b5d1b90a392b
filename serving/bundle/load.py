"""The artifact bundle: prompts, safety rules, memory patterns, message catalogs and models.

A bundle is a directory (`prompts/` in the repository, or one downloaded from the registry)
with a `manifest.yaml` naming it, versioning it and carrying a SHA-256 over every other file.
`load_bundle` refuses a bundle whose files do not match its hash, or whose YAML does not parse
into the expected schemas, with a message naming the file: nothing half-valid reaches patients.
The learned classifiers (`models/triage.json`, `models/intent.json`) are optional: a bundle
without them serves by its rules alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from serving.bundle.lexicon import Intent, Lexicon
from serving.safety.classifier import ClassifierFile, Kind, TextClassifier
from serving.safety.rules import SafetyRules

MANIFEST = "manifest.yaml"
LANGUAGES = ("en", "he")
AGENTS = ("alex", "dana", "michal", "yosef", "sarah")
# The labels each kind of learned classifier may have as heads: triage raises to these
# urgencies (serving/safety/triage.py); intent heads are the NLU's intents, one-vs-rest.
MODEL_LABELS: Mapping[Kind, frozenset[str]] = {
    "triage": frozenset({"EMERGENCY", "DOCTOR_REQUIRED"}),
    "intent": frozenset(Intent),
}
M = TypeVar("M", bound=BaseModel)
# libyaml's safe loader when available: the pure-Python one takes ~0.5 s per bundle.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class BundleError(ValueError):
    """The bundle is incomplete, malformed, or its files do not match its manifest."""


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9-]*$")
    version: str = Field(pattern=r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
    content_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    description: str = ""

    @property
    def label(self) -> str:
        """What every reply records: name, semantic version and the start of the hash."""
        digest = self.content_hash.removeprefix("sha256:")
        return f"{self.name}@{self.version}+{digest[:12]}"


class MemoryPattern(BaseModel):
    """A named kind of interaction, used to label conversations for memory and review."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z_]+$")
    description: str
    intents: list[str] = Field(default_factory=list)
    urgencies: list[str] = Field(default_factory=list)


class MemoryPatterns(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patterns: list[MemoryPattern] = Field(min_length=1)
    default: str

    def label(self, *, intent: str, urgency: str) -> str:
        """The first pattern matching the urgency, else the first matching the intent."""
        for pattern in self.patterns:
            if urgency in pattern.urgencies:
                return pattern.name
        for pattern in self.patterns:
            if intent in pattern.intents:
                return pattern.name
        return self.default


@dataclass(frozen=True)
class Bundle:
    manifest: Manifest
    prompts: Mapping[str, str]
    """System prompts by `<agent>.<language>`, e.g. `alex.he`."""
    safety: SafetyRules
    memory: MemoryPatterns
    messages: Mapping[str, Mapping[str, str]]
    """Reply templates by language, then key."""
    lexicon: Lexicon
    triage_model: TextClassifier | None = None
    """The learned triage classifier (`models/triage.json`); None: the rules alone triage."""
    intent_model: TextClassifier | None = None
    """The learned intent classifier (`models/intent.json`); None: the lexicon alone."""

    @property
    def version(self) -> str:
        """What every reply records (`Manifest.label`)."""
        return self.manifest.label

    def prompt(self, agent: str, language: str) -> str:
        return self.prompts[f"{agent}.{language}"]

    def message(self, language: str, key: str, **values: object) -> str:
        return self.messages[language][key].format(**values)


def content_hash(root: Path) -> str:
    """SHA-256 over every file of the bundle but the manifest, by sorted relative path."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative == MANIFEST or any(part.startswith(".") for part in path.parts[-1:]):
            continue
        if "__pycache__" in path.parts:
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"sha256:{digest.hexdigest()}"


# Bundles already read, by manifest (which names the content hash): validating a bundle's
# rules and models takes a few hundred milliseconds, and every runtime loads one (each app,
# each bundle swap). The hash was just checked against the files, so an entry is the same
# content, and a Bundle is immutable.
_LOADED_KEEP = 4
_loaded: dict[str, Bundle] = {}


def load_bundle(root: Path) -> Bundle:
    """Read and validate the bundle in `root`; `BundleError` says what is wrong and where."""
    if not root.is_dir():
        raise BundleError(f"bundle directory {root} does not exist")
    manifest = _parse(root, MANIFEST, Manifest)
    actual = content_hash(root)
    if actual != manifest.content_hash:
        raise BundleError(
            f"{root / MANIFEST}: content_hash {manifest.content_hash[:19]}… does not match the "
            f"files ({actual[:19]}…); a file was changed without re-hashing "
            "(run `dental bundle rehash` after reviewing the change)"
        )
    key = manifest.model_dump_json()
    bundle = _loaded.get(key)
    if bundle is None:
        bundle = _read_bundle(root, manifest)
        if len(_loaded) >= _LOADED_KEEP:
            _loaded.pop(next(iter(_loaded)))
        _loaded[key] = bundle
    return bundle


def _read_bundle(root: Path, manifest: Manifest) -> Bundle:
    prompts = {
        f"{agent}.{lang}": _read(root, f"agents/{agent}.{lang}.md")
        for agent in AGENTS
        for lang in LANGUAGES
    }
    messages = {lang: _messages(root, lang) for lang in LANGUAGES}
    missing = set(messages["en"]) ^ set(messages["he"])
    if missing:
        raise BundleError(
            f"messages/en.yaml and messages/he.yaml differ in keys: {sorted(missing)}"
        )
    return Bundle(
        manifest=manifest,
        prompts=prompts,
        safety=_parse(root, "safety/rules.yaml", SafetyRules),
        memory=_parse(root, "memory/patterns.yaml", MemoryPatterns),
        messages=messages,
        lexicon=_parse(root, "offline/lexicon.yaml", Lexicon),
        triage_model=_model(root, "triage"),
        intent_model=_model(root, "intent"),
    )


def rehash(root: Path) -> str:
    """Write the current content hash into the manifest (after a reviewed change)."""
    path = root / MANIFEST
    data = _yaml(root, MANIFEST)
    data["content_hash"] = content_hash(root)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return str(data["content_hash"])


def _read(root: Path, relative: str) -> str:
    path = root / relative
    if not path.is_file():
        raise BundleError(f"{path}: required file is missing")
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise BundleError(f"{path}: file is empty")
    return text


def _yaml(root: Path, relative: str) -> dict[str, Any]:
    try:
        data = yaml.load(_read(root, relative), Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise BundleError(f"{root / relative}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise BundleError(f"{root / relative}: expected a mapping at the top level")
    return data


def _parse(root: Path, relative: str, schema: type[M]) -> M:
    try:
        return schema.model_validate(_yaml(root, relative))
    except ValidationError as exc:
        raise BundleError(f"{root / relative}: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or '(top)'}: {error['msg']}"
        for error in exc.errors()[:5]
    )


def model_path(root: Path, kind: Kind) -> Path:
    """Where a bundle keeps its learned classifier of `kind`: `models/<kind>.json`."""
    return root / "models" / f"{kind}.json"


def _model(root: Path, kind: Kind) -> TextClassifier | None:
    """`models/<kind>.json` as a classifier, or None when the bundle has none (rules only)."""
    path = model_path(root, kind)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise BundleError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise BundleError(f"{path}: not valid JSON (not UTF-8 text)") from None
    try:
        spec = ClassifierFile.model_validate(data)
    except ValidationError as exc:
        raise BundleError(f"{path}: {_problems(exc)}") from None
    if spec.kind != kind:
        raise BundleError(f"{path}: a {spec.kind!r} classifier where a {kind!r} one belongs")
    labels = {head.label for head in spec.heads}
    unknown = sorted(labels - MODEL_LABELS[kind])
    if unknown:
        raise BundleError(
            f"{path}: head labels {unknown} are not {kind} labels "
            f"(expected among: {', '.join(sorted(MODEL_LABELS[kind]))})"
        )
    if kind == "triage" and labels != MODEL_LABELS["triage"]:
        raise BundleError(
            f"{path}: a triage classifier needs both heads, EMERGENCY and DOCTOR_REQUIRED"
        )
    return TextClassifier(spec)


def _messages(root: Path, language: str) -> dict[str, str]:
    data = _yaml(root, f"messages/{language}.yaml")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise BundleError(f"{root / f'messages/{language}.yaml'}: every entry must be key: text")
    return data
