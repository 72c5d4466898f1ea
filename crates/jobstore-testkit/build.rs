//! Fingerprints each backend's migrations, so that a test template made from other migrations
//! (an older checkout, an edited migration) is never reused: its name carries the fingerprint.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

fn main() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("..")
        .join("..")
        .join("migrations");
    println!("cargo:rerun-if-changed={}", root.display());
    for (backend, var) in [
        ("postgres", "JOBSTORE_TESTKIT_POSTGRES_MIGRATIONS"),
        ("mysql", "JOBSTORE_TESTKIT_MYSQL_MIGRATIONS"),
        ("sqlite", "JOBSTORE_TESTKIT_SQLITE_MIGRATIONS"),
    ] {
        let folder = root.join(backend);
        let mut files = Vec::new();
        collect(&folder, &mut files);
        files.sort();
        let mut hash = Fnv::new();
        for file in &files {
            println!("cargo:rerun-if-changed={}", file.display());
            let relative = file.strip_prefix(&folder).unwrap_or(file);
            hash.write(relative.to_string_lossy().as_bytes());
            hash.write(&[0]);
            hash.write(&fs::read(file).unwrap_or_default());
            hash.write(&[0]);
        }
        println!("cargo:rustc-env={var}={:016x}", hash.finish());
    }
}

/// Every file under `folder` (none when it is missing: the fingerprint is then of nothing, and
/// the migrator's embedded versions still tell templates apart).
fn collect(folder: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// FNV-1a, 64 bits: stable across Rust versions, unlike `std`'s hasher.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
