//! Frames: u32 BE header length, u32 BE body length, a JSON header, the body (docs/sandboxes.md).

use super::json::{self, Json};
use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::os::unix::io::FromRawFd;
use std::sync::{Arc, Mutex};

pub const MAX_HEADER: usize = 64 * 1024;
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// The agent's side of the connection going out (fd 1). Each frame is written whole under the lock, so the
/// frames of concurrent requests never interleave.
#[derive(Clone)]
pub struct Sender(Arc<Mutex<ManuallyDrop<File>>>);

impl Sender {
    pub fn stdout() -> Sender {
        Sender(Arc::new(Mutex::new(ManuallyDrop::new(unsafe {
            File::from_raw_fd(1)
        }))))
    }

    /// A closed connection is not an error here: the main loop sees it on its read side and shuts down.
    pub fn send(&self, header: &Json, body: &[u8]) {
        let head = header.to_string();
        let mut frame = Vec::with_capacity(8 + head.len() + body.len());
        frame.extend_from_slice(&(head.len() as u32).to_be_bytes());
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(head.as_bytes());
        frame.extend_from_slice(body);
        let mut out = match self.0.lock() {
            Ok(out) => out,
            Err(poisoned) => poisoned.into_inner(),
        };
        let _ = out.write_all(&frame);
    }
}

/// Reads one frame; None at a clean end of stream (between frames).
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<(Json, Vec<u8>)>> {
    let mut lengths = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        let n = input.read(&mut lengths[got..])?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "frame cut short",
            ));
        }
        got += n;
    }
    let header_len = u32::from_be_bytes([lengths[0], lengths[1], lengths[2], lengths[3]]) as usize;
    let body_len = u32::from_be_bytes([lengths[4], lengths[5], lengths[6], lengths[7]]) as usize;
    if header_len == 0 || header_len > MAX_HEADER || body_len > MAX_BODY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame lengths out of range",
        ));
    }
    let mut header = vec![0u8; header_len];
    input.read_exact(&mut header)?;
    let mut body = vec![0u8; body_len];
    input.read_exact(&mut body)?;
    let header = json::parse(&header).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if !matches!(header, Json::Obj(_)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "header is not an object",
        ));
    }
    Ok(Some((header, body)))
}
