//! `announce FILE --sites ..` and `emergency FILE --sites ..`: files do not
//! travel over the broker (a village link and a broker's queues are no
//! place for megabytes of audio); the order names each file by its
//! content (`sha256:HEX`, with its size and name) and every kiosk plays its
//! own copy (`sites/files.rs` finds it). This kiosk gets a copy of its own
//! at once, over its control socket, so the operator's own zones never miss
//! a file that sat in their home folder.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sha2::{Digest, Sha256};

use super::client::Target;
use crate::control::protocol::{file_ref_path, FileRef, Request};

/// `req` with the files of an order named by content; anything else as
/// it is.
pub fn by_content(target: &Target<'_>, req: Request) -> Result<Request, ExitCode> {
    let Request::Order {
        sites,
        request,
        files,
    } = req
    else {
        return Ok(req);
    };
    let mut refs: Vec<FileRef> = files;
    let mut name = |path: PathBuf| -> Result<PathBuf, ExitCode> {
        let r = describe(&path).map_err(|e| {
            eprintln!("corong: {e}");
            ExitCode::from(2)
        })?;
        keep_here(target, &path);
        let p = file_ref_path(&r.sha256);
        if !refs.iter().any(|x| x.sha256 == r.sha256) {
            refs.push(r);
        }
        Ok(p)
    };
    let request = request.try_map_files(&mut name)?;
    Ok(Request::Order {
        sites,
        request: Box::new(request),
        files: refs,
    })
}

/// The file's SHA-256, size and plain name, read here (the operator can
/// read it; the daemons need not).
fn describe(path: &Path) -> Result<FileRef, String> {
    let mut f = crate::media::open_regular(path).map_err(|e| e.to_string())?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hash.update(&buf[..n]);
    }
    Ok(FileRef {
        sha256: hash.finalize().iter().map(|b| format!("{b:02x}")).collect(),
        size,
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    })
}

/// Give this kiosk's daemon its copy (kept under its content's name in
/// `state/uploads/`, where the order finds it). A failure is said and the
/// order still goes: the other kiosks have their own copies.
fn keep_here(target: &Target<'_>, path: &Path) {
    let Ok(mut client) = target.connect() else {
        return;
    };
    if let Err(e) = client.upload(path) {
        eprintln!(
            "corong: {} was not copied to this kiosk ({e}); it plays here only if this kiosk has it",
            path.display()
        );
    }
}
