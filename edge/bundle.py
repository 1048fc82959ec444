"""Signed model bundles: make one on the workstation, verify and install one on the device.

A bundle is a flat directory (normally `STICK/ECG-MODELS/`) holding the model files, their
`manifest.json`, `bundle.json` (every file's sha256 and size, canonical JSON) and `bundle.sig`
(Ed25519 signature over a domain tag + the exact bytes of `bundle.json`). The device trusts only
the public key provisioned at install (`/etc/ecg-edge/model-signing.pub`).

On the device the models root holds `versions/<id>/` directories and two symlinks, `current` and
`previous`; `edge.models` reads `<root>/current` (set `ECG_EDGE_MODELS` to it). Installing copies
the files off the stick while hashing them (so what is installed is exactly what was verified),
fsyncs, renames the new version into place and swaps `current` atomically; `rollback` swaps
`current` and `previous` back. `history.json` lists every install and the highest version ever
installed: a bundle older than that is a downgrade (refused unless asked for), even after a
rollback, and even when a `bundle.json` or the history itself is unreadable (the version is also
in every kept directory's name).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from edge.atomic import (
    commit_dir,
    copy_file_atomic,
    replace_symlink,
    write_chunks_atomic,
    write_file_atomic,
)
from edge.checksum import sha256_and_size
from edge.errors import BadInputError, EcgEdgeError, ModelError

log = logging.getLogger(__name__)

BUNDLE_JSON = "bundle.json"
BUNDLE_SIG = "bundle.sig"
MANIFEST = "manifest.json"
SIG_DOMAIN = b"ecg-edge model bundle v1\n"  # signatures cannot be replayed for other documents
SCHEMA = 1
DEFAULT_PUBLIC_KEY = Path("/etc/ecg-edge/model-signing.pub")
DEFAULT_MODELS_ROOT = Path("/var/lib/ecg-edge/models")
MAX_FILE_BYTES = 1 << 30  # one model file; a bundle bigger than this is not a model update
MAX_BUNDLE_BYTES = 2 << 30
MAX_FILES = 64
HISTORY = "history.json"  # beside versions/: every install, and the highest version ever installed
MAX_HISTORY = 200  # installs remembered (the highest version is kept whatever the length)
_VERSION_DIR = re.compile(r"^v(\d+)-[0-9a-f]{12}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_CHUNK = 1 << 20


class BundleError(ModelError):
    """A model bundle cannot be trusted or installed (exit code 3)."""


@dataclass
class BundleInfo:
    """What a verified bundle contains."""

    path: Path
    bundle_id: str
    version: int
    created_utc: str
    files: dict[str, dict[str, Any]]  # name -> {"sha256", "size"}
    models: list[str] = field(default_factory=list)
    digest: str = ""  # sha256 of bundle.json: names this exact bundle

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "bundle_id": self.bundle_id,
            "version": self.version,
            "created_utc": self.created_utc,
            "models": self.models,
            "digest": self.digest,
            "files": self.files,
        }


# ---------------------------------------------------------------------------------------------
# keys


def generate_keypair(
    out_dir: str | Path, *, name: str = "model-signing", overwrite: bool = False
) -> tuple[Path, Path]:
    """Write `<name>.key` (PKCS8 PEM, mode 0600) and `<name>.pub` (SubjectPublicKeyInfo PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = out / f"{name}.key", out / f"{name}.pub"
    if not overwrite and (key_path.exists() or pub_path.exists()):
        raise BadInputError(
            "key_exists",
            f"{key_path} or {pub_path} already exists",
            "choose another --out directory or pass --force to replace the key pair",
        )
    key = Ed25519PrivateKey.generate()
    priv = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_file_atomic(key_path, priv, mode=0o600)
    write_file_atomic(pub_path, pub, mode=0o644)
    return key_path, pub_path


def load_private_key(path: str | Path):
    """The Ed25519 private key in a PEM file (BadInputError if it is not one)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    p = Path(path)
    try:
        key = serialization.load_pem_private_key(p.read_bytes(), password=None)
    except FileNotFoundError:
        raise BadInputError(
            "key_missing", f"no signing key at {p}", "make one with 'ecg-convert keygen --out DIR'"
        ) from None
    except (ValueError, TypeError, OSError) as exc:
        raise BadInputError(
            "key_invalid",
            f"{p} is not an unencrypted PEM private key ({exc})",
            "use the .key file written by 'ecg-convert keygen'",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInputError(
            "key_invalid",
            f"{p} is not an Ed25519 key",
            "use the .key file written by 'ecg-convert keygen'",
        )
    return key


def load_public_key(path: str | Path):
    """The Ed25519 public key in a PEM file (BundleError if missing or not one)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    p = Path(path)
    try:
        key = serialization.load_pem_public_key(p.read_bytes())
    except FileNotFoundError:
        raise BundleError(
            "pubkey_missing",
            f"no model-signing public key at {p}",
            "provision the key (install script --signing-key) or pass --public-key",
        ) from None
    except (ValueError, TypeError, OSError) as exc:
        raise BundleError(
            "pubkey_invalid",
            f"{p} is not a PEM public key ({exc})",
            "re-provision the .pub file written by 'ecg-convert keygen'",
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(
            "pubkey_invalid",
            f"{p} is not an Ed25519 public key",
            "re-provision the .pub file written by 'ecg-convert keygen'",
        )
    return key


# ---------------------------------------------------------------------------------------------
# making a bundle (workstation)


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no spaces, UTF-8, trailing newline."""
    return (
        json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    )


def _read_manifest(man_path: Path) -> dict[str, Any]:
    """The models directory's manifest (BadInputError if missing, not JSON or without models)."""
    try:
        manifest = json.loads(man_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError(
            "manifest_missing",
            f"no {MANIFEST} in {man_path.parent}",
            "point at the models directory written by 'ecg-convert quantize'",
        ) from None
    except (ValueError, OSError) as exc:
        raise BadInputError(
            "manifest_invalid",
            f"{man_path} is not valid JSON ({exc})",
            "fix or re-generate the manifest",
        ) from None
    if (
        not isinstance(manifest, dict)
        or not isinstance(manifest.get("models"), list)
        or not manifest["models"]
    ):
        raise BadInputError(
            "manifest_invalid",
            f"{man_path} has no models",
            "add models with 'ecg-convert quantize' first",
        )
    return manifest


def _bundle_names(manifest: dict[str, Any], extra_files: list[str]) -> list[str]:
    """manifest.json, every model file it names and the extra files: plain, safe names only."""
    names = [MANIFEST]
    for m in manifest["models"]:
        fname = str(m.get("file", ""))
        if not _SAFE_NAME.match(fname):
            raise BadInputError(
                "bad_file_name",
                f"model file name {fname!r} is not a plain file name",
                "model files must sit next to manifest.json with names of [A-Za-z0-9._-]",
            )
        if fname not in names:
            names.append(fname)
    for extra in extra_files:
        if not _SAFE_NAME.match(extra) or extra in (BUNDLE_JSON, BUNDLE_SIG):
            raise BadInputError(
                "bad_file_name",
                f"extra file name {extra!r} is not allowed",
                "use plain names of [A-Za-z0-9._-]",
            )
        if extra not in names:
            names.append(extra)
    return names


def _hash_sources(
    src: Path, names: list[str], manifest: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Every bundled file's sha256 and size; each must be a regular file and match the manifest."""
    files: dict[str, dict[str, Any]] = {}
    for name in names:
        p = src / name
        if not p.is_file() or p.is_symlink():
            raise BadInputError(
                "model_file_missing",
                f"{p} is missing or not a regular file",
                "re-run the conversion so every manifest entry has its file",
            )
        digest, size = sha256_and_size(p)
        files[name] = {"sha256": digest, "size": size}
    for m in manifest["models"]:
        want = str(m.get("sha256", "")).lower()
        if want and want != files[m["file"]]["sha256"]:
            raise BadInputError(
                "manifest_stale",
                f"{m['file']} does not match its manifest sha256",
                "re-run 'ecg-convert quantize' (or fix the manifest) before bundling",
            )
    return files


def _prepare_out_dir(out: Path, names: list[str]) -> None:
    """Create `out`; it may hold only this bundle's files (an earlier bundle), nothing else."""
    out.mkdir(parents=True, exist_ok=True)
    leftovers = [
        p.name
        for p in out.iterdir()
        if p.name not in names and p.name not in (BUNDLE_JSON, BUNDLE_SIG)
    ]
    if leftovers:
        raise BadInputError(
            "out_not_empty",
            f"{out} holds other files: {', '.join(sorted(leftovers)[:5])}",
            "give an empty --out directory (e.g. STICK/ECG-MODELS)",
        )


def _write_bundle(src: Path, out: Path, names: list[str], body: bytes, key: Any) -> None:
    """Copy the files into `out`, then write `bundle.json` and its signature last."""
    # Remove the old signature first: a crash mid-way leaves an unsigned (rejected) bundle, never
    # a signature over different files.
    for stale in (BUNDLE_SIG, BUNDLE_JSON):
        try:
            (out / stale).unlink()
        except FileNotFoundError:
            pass
    for name in names:
        if (src / name).resolve() != (out / name).resolve():
            copy_file_atomic(src / name, out / name)
    write_file_atomic(out / BUNDLE_JSON, body)
    write_file_atomic(out / BUNDLE_SIG, key.sign(SIG_DOMAIN + body).hex().encode() + b"\n")


def make_bundle(
    models_dir: str | Path,
    private_key: str | Path,
    out_dir: str | Path,
    *,
    version: int | None = None,
    extra_files: list[str] | None = None,
) -> BundleInfo:
    """Copy `manifest.json` and every model file it names into `out_dir`, write `bundle.json` and sign it.

    `out_dir` must be empty or an earlier bundle (its bundle files are replaced)."""
    src = Path(models_dir)
    key = load_private_key(private_key)
    manifest = _read_manifest(src / MANIFEST)
    names = _bundle_names(manifest, extra_files or [])
    files = _hash_sources(src, names, manifest)
    out = Path(out_dir)
    _prepare_out_dir(out, names)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    version = int(version if version is not None else time.time())
    models = [str(m.get("name", "")) for m in manifest["models"]]
    doc = {
        "schema": SCHEMA,
        "version": version,
        "created_utc": created,
        "models": models,
        "files": files,
    }
    body = canonical_json(doc)
    doc_digest = hashlib.sha256(body).hexdigest()
    _write_bundle(src, out, names, body, key)
    return BundleInfo(
        path=out,
        bundle_id=_bundle_id(version, doc_digest),
        version=version,
        created_utc=created,
        files=files,
        models=models,
        digest=doc_digest,
    )


# ---------------------------------------------------------------------------------------------
# verifying (device)


def _verified_body(bdir: Path, pub: Any) -> bytes:
    """The bytes of `bundle.json`, once `bundle.sig` is a valid signature over them."""
    body = _read_small(bdir / BUNDLE_JSON, "bundle.json", 1 << 20)
    sig_text = _read_small(bdir / BUNDLE_SIG, "bundle.sig", 4096)
    try:
        sig = bytes.fromhex(sig_text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        sig = b""
    from cryptography.exceptions import InvalidSignature

    try:
        pub.verify(sig, SIG_DOMAIN + body)
    except InvalidSignature:
        raise BundleError(
            "bad_signature",
            f"model bundle {bdir} has an invalid signature",
            "it was signed with another key or altered; get a bundle signed with this clinic's key",
        ) from None
    return body


def _parse_bundle_doc(
    bdir: Path, body: bytes
) -> tuple[dict[str, Any], int, dict[str, dict[str, Any]]]:
    """The signed document, its version and file list, checked for shape, size and safe names."""
    # Signed, so the document is ours; still validate its shape defensively.
    try:
        doc = json.loads(body)
        version = int(doc["version"])
        files: dict[str, dict[str, Any]] = {
            str(k): {"sha256": str(v["sha256"]).lower(), "size": int(v["size"])}
            for k, v in doc["files"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BundleError(
            "bundle_invalid",
            f"{bdir}/bundle.json is malformed",
            "re-make the bundle with 'ecg-convert bundle'",
        ) from None
    if doc.get("schema") != SCHEMA:
        raise BundleError(
            "bundle_schema",
            f"model bundle schema {doc.get('schema')!r} is not supported",
            "update the device software or re-make the bundle with a matching toolchain",
        )
    if MANIFEST not in files:
        raise BundleError(
            "bundle_invalid", "model bundle has no manifest.json", "re-make the bundle"
        )
    if len(files) > MAX_FILES or sum(f["size"] for f in files.values()) > MAX_BUNDLE_BYTES:
        raise BundleError(
            "bundle_too_big", "model bundle is too large", "a bundle holds a few small models"
        )
    for name, meta in files.items():
        if (
            not _SAFE_NAME.match(name)
            or name in (BUNDLE_JSON, BUNDLE_SIG)
            or meta["size"] > MAX_FILE_BYTES
        ):
            raise BundleError(
                "bad_file_name",
                f"model bundle lists an unsafe file {name!r}",
                "re-make the bundle with 'ecg-convert bundle'",
            )
    return doc, version, files


def verify_bundle(
    bundle_dir: str | Path, public_key: str | Path = DEFAULT_PUBLIC_KEY, *, check_files: bool = True
) -> BundleInfo:
    """Check the signature, the file list (no extra, missing, odd or symlinked files) and, with
    `check_files`, every file's size and sha256. Returns the BundleInfo or raises BundleError."""
    bdir = Path(bundle_dir)
    pub = load_public_key(public_key)
    if bdir.is_symlink() or not bdir.is_dir():
        raise BundleError(
            "bundle_missing",
            f"no model bundle directory at {bdir}",
            "copy the bundle made by 'ecg-convert bundle' to ECG-MODELS/ on the stick",
        )
    body = _verified_body(bdir, pub)
    doc, version, files = _parse_bundle_doc(bdir, body)
    _check_listing(bdir, files)
    digest = hashlib.sha256(body).hexdigest()
    info = BundleInfo(
        path=bdir,
        bundle_id=_bundle_id(version, digest),
        version=version,
        created_utc=str(doc.get("created_utc", "")),
        files=files,
        models=[str(m) for m in doc.get("models", [])],
        digest=digest,
    )
    if check_files:
        for name, meta in files.items():
            _copy_verified(bdir / name, None, meta)
        _check_manifest_matches(bdir / MANIFEST, files)
    return info


def _check_listing(bdir: Path, files: dict[str, dict[str, Any]]) -> None:
    """The bundle directory holds exactly the signed files, each a regular file."""
    present = _listing(bdir)
    extra = sorted(set(present) - set(files) - {BUNDLE_JSON, BUNDLE_SIG})
    if extra:
        raise BundleError(
            "extra_files",
            f"model bundle holds unsigned files: {', '.join(extra[:5])}",
            "copy only the bundle made by 'ecg-convert bundle' into ECG-MODELS/",
        )
    missing = sorted(set(files) - set(present))
    if missing:
        raise BundleError(
            "missing_files",
            f"model bundle is missing {', '.join(missing[:5])}",
            "copy the whole bundle again",
        )
    for name, kind in present.items():
        if kind != "file":
            raise BundleError(
                "not_regular",
                f"{name} in the model bundle is a {kind}, not a regular file",
                "copy the bundle again without links",
            )


# ---------------------------------------------------------------------------------------------
# installing (device)


def install_bundle(
    bundle_dir: str | Path,
    models_root: str | Path = DEFAULT_MODELS_ROOT,
    public_key: str | Path = DEFAULT_PUBLIC_KEY,
    *,
    allow_downgrade: bool = False,
) -> tuple[BundleInfo, bool]:
    """Verify `bundle_dir` and make it `<models_root>/current`; the old current becomes `previous`.

    Returns (info, installed); installed is False when this exact bundle is already current.
    Files are hashed while being copied to the device, so the installed bytes are the verified ones."""
    info = verify_bundle(
        bundle_dir, public_key, check_files=True
    )  # refuse a damaged stick copy outright
    root = Path(models_root)
    versions = root / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    cur = current_bundle(root)
    if cur is not None and cur.get("digest") == info.digest:
        return info, False
    highest = highest_installed_version(root)
    if not allow_downgrade and highest is not None and info.version < highest:
        raise BundleError(
            "downgrade",
            f"bundle version {info.version} is older than version {highest}, "
            "already installed on this device",
            "use 'ecg-edge update-models --rollback' to go back, "
            "or --allow-downgrade if you really mean to install an older bundle",
        )
    final = versions / info.bundle_id
    if not final.is_dir():
        tmp = versions / f".tmp-{info.bundle_id}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o755)
        try:
            for name, meta in info.files.items():
                _copy_verified(Path(bundle_dir) / name, tmp / name, meta)
            for name in (BUNDLE_JSON, BUNDLE_SIG):
                copy_file_atomic(Path(bundle_dir) / name, tmp / name)
            # Re-check the signature on the copy: the stick may have changed under us.
            verify_bundle(tmp, public_key, check_files=True)
            commit_dir(tmp, final, strict=False)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    old = _link_target(root / "current")
    if old is not None and old != final.name:
        _swap_link(root / "previous", old)
    _swap_link(root / "current", final.name)
    _record_install(root, info)
    _prune(root)
    log.info("installed model bundle %s (%d files)", info.bundle_id, len(info.files))
    return info, True


def rollback(models_root: str | Path = DEFAULT_MODELS_ROOT) -> str:
    """Make `previous` current again (and current previous); returns the bundle id now current."""
    root = Path(models_root)
    prev, cur = _link_target(root / "previous"), _link_target(root / "current")
    if prev is None or not (root / "versions" / prev).is_dir():
        raise BundleError(
            "no_previous",
            "there is no previous model bundle to roll back to",
            "install a bundle from a stick with 'ecg-edge update-models --from DIR'",
        )
    _swap_link(root / "current", prev)
    if cur is not None:
        _swap_link(root / "previous", cur)
    return prev


def current_bundle(models_root: str | Path = DEFAULT_MODELS_ROOT) -> dict[str, Any] | None:
    """The installed bundle's `bundle.json` plus its id and digest, or None when nothing is installed."""
    root = Path(models_root)
    target = _link_target(root / "current")
    if target is None:
        return None
    path = root / "versions" / target / BUNDLE_JSON
    try:
        body = path.read_bytes()
        doc = json.loads(body)
    except (OSError, ValueError):
        return None
    doc["bundle_id"] = target
    doc["digest"] = hashlib.sha256(body).hexdigest()
    return doc


def highest_installed_version(models_root: str | Path = DEFAULT_MODELS_ROOT) -> int | None:
    """The highest bundle version ever installed here, the floor for new installs (so a rollback
    followed by an older, validly signed bundle is still a downgrade). Taken from the install
    history and, so that losing or damaging any one file cannot lower it, from the version in
    every kept version directory's name and the `current`/`previous` link targets."""
    root = Path(models_root)
    seen: list[int] = []
    hist = _read_history(root)
    if isinstance(hist.get("highest_version"), int):
        seen.append(hist["highest_version"])
    names = [_link_target(root / "current"), _link_target(root / "previous")]
    if (root / "versions").is_dir():
        names += [p.name for p in (root / "versions").iterdir()]
    for name in names:
        m = _VERSION_DIR.match(name or "")
        if m:
            seen.append(int(m.group(1)))
    return max(seen) if seen else None


def status(models_root: str | Path = DEFAULT_MODELS_ROOT) -> dict[str, Any]:
    """Which bundles are current/previous and which versions are kept."""
    root = Path(models_root)
    kept = (
        sorted(p.name for p in (root / "versions").iterdir() if not p.name.startswith("."))
        if (root / "versions").is_dir()
        else []
    )
    return {
        "models_root": str(root),
        "current": _link_target(root / "current"),
        "previous": _link_target(root / "previous"),
        "versions": kept,
        "highest_version": highest_installed_version(root),
    }


# ---------------------------------------------------------------------------------------------
# helpers


def _bundle_id(version: int, digest: str) -> str:
    return f"v{version}-{digest[:12]}"


def _read_history(root: Path) -> dict[str, Any]:
    """`<root>/history.json` ({"highest_version", "installed": [...]}), {} if missing or damaged."""
    try:
        doc = json.loads((root / HISTORY).read_bytes())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _record_install(root: Path, info: BundleInfo) -> None:
    """Add `info` to the install history and raise its highest version (atomic rewrite)."""
    hist = _read_history(root)
    installed = [e for e in hist.get("installed", []) if isinstance(e, dict)][-(MAX_HISTORY - 1) :]
    installed.append(
        {
            "bundle_id": info.bundle_id,
            "version": info.version,
            "digest": info.digest,
            "installed_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    highest = max(info.version, highest_installed_version(root) or info.version)
    doc = {"highest_version": highest, "installed": installed}
    write_file_atomic(root / HISTORY, canonical_json(doc))


def _listing(bdir: Path) -> dict[str, str]:
    """name -> 'file' | 'symlink' | 'directory' | 'special' for every entry of `bdir` (no following)."""
    out: dict[str, str] = {}
    with os.scandir(bdir) as it:
        for e in it:
            st = e.stat(follow_symlinks=False)
            out[e.name] = (
                "symlink"
                if stat.S_ISLNK(st.st_mode)
                else "directory"
                if stat.S_ISDIR(st.st_mode)
                else "file"
                if stat.S_ISREG(st.st_mode)
                else "special"
            )
    return out


def _open_regular(path: Path) -> int:
    """An fd on `path`, refusing symlinks and anything that is not a regular file."""
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except FileNotFoundError:
        raise BundleError(
            "missing_files",
            f"{path.name} is missing from the model bundle",
            "copy the whole bundle again",
        ) from None
    except OSError as exc:
        raise BundleError(
            "not_regular",
            f"cannot open {path.name} in the model bundle ({exc.strerror})",
            "copy the bundle again without links",
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BundleError(
            "not_regular",
            f"{path.name} in the model bundle is not a regular file",
            "copy the bundle again without links",
        )
    return fd


def _read_small(path: Path, label: str, limit: int) -> bytes:
    if not os.path.lexists(path):
        raise BundleError(
            "unsigned",
            f"model bundle {path.parent} has no {label}",
            "only bundles signed with 'ecg-convert bundle --sign KEY' are installed",
        )
    fd = _open_regular(path)
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise BundleError("bundle_invalid", f"{label} is too large", "re-make the bundle")
    return data


def _copy_verified(src: Path, dst: Path | None, meta: dict[str, Any]) -> None:
    """Hash `src` (copying it atomically to `dst` when given) and check size and sha256: what is
    installed is exactly the bytes that were hashed."""
    fd = _open_regular(src)
    h = hashlib.sha256()
    n = 0

    def chunks() -> Iterator[bytes]:
        nonlocal n
        with os.fdopen(fd, "rb") as f:
            while chunk := f.read(_CHUNK):
                n += len(chunk)
                if n > meta["size"]:
                    return
                h.update(chunk)
                yield chunk

    if dst is None:
        for _ in chunks():
            pass
    else:
        write_chunks_atomic(dst, chunks(), mode=0o644, sync_dir=False)
    if n != meta["size"] or h.hexdigest() != meta["sha256"]:
        raise BundleError(
            "tampered",
            f"{src.name} in the model bundle does not match its signed sha256",
            "the bundle was altered or damaged on the stick; copy it again from the workstation",
        )


def _check_manifest_matches(manifest_path: Path, files: dict[str, dict[str, Any]]) -> None:
    """The signed manifest's own per-model sha256 must agree with the signed file list."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        models = manifest["models"]
    except (OSError, ValueError, KeyError, TypeError):
        raise BundleError(
            "manifest_invalid",
            "the bundle's manifest.json is not a model manifest",
            "re-make the bundle from a models directory",
        ) from None
    for m in models:
        fname = str(m.get("file", ""))
        if fname not in files:
            raise BundleError(
                "missing_files",
                f"manifest names {fname!r}, which the bundle does not carry",
                "re-make the bundle with 'ecg-convert bundle'",
            )
        want = str(m.get("sha256", "")).lower()
        if want and want != files[fname]["sha256"]:
            raise BundleError(
                "manifest_stale",
                f"manifest sha256 of {fname} disagrees with the bundle",
                "re-make the bundle with 'ecg-convert bundle'",
            )


def _link_target(link: Path) -> str | None:
    try:
        return os.path.basename(os.readlink(link))
    except OSError:
        return None


def _swap_link(link: Path, version_name: str) -> None:
    """Point `link` at versions/<version_name> atomically."""
    replace_symlink(link, os.path.join("versions", version_name))


def _prune(root: Path) -> None:
    """Keep only the current and previous versions (and nothing half-copied)."""
    keep = {_link_target(root / "current"), _link_target(root / "previous")}
    for p in (root / "versions").iterdir():
        if p.name not in keep:
            try:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            except OSError as exc:  # never fatal: an old version left behind costs only space
                log.warning("could not remove old model version %s: %s", p, exc)


def describe_error(exc: EcgEdgeError) -> str:
    """One line for logs and the screen."""
    return f"{exc.message}: {exc.hint}" if exc.hint else exc.message
