//! Stub backends on loopback: every answer names the backend (`x-backend: NAME` and the body),
//! so verify can tell which Service a route reached; paths containing `/slow` answer after
//! [`SLOW`], the slow path the circuit-breaker check needs. HTTP/1.1 keep-alive, one thread per
//! connection; the accept loop stops when the stub is dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Service time of `/slow` paths.
pub const SLOW: Duration = Duration::from_secs(1);

pub struct Stub {
    pub port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Stub {
    pub fn start(name: &str, port: u16) -> std::io::Result<Stub> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let name = name.to_string();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let stop = stop2.clone();
                    let name = name.clone();
                    std::thread::spawn(move || serve(conn, &name, &stop));
                }
            }
        });
        Ok(Stub {
            port,
            stop,
            accept: Some(accept),
        })
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn serve(conn: TcpStream, name: &str, stop: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut out = conn;
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_owned();
        let mut body_len = 0usize;
        loop {
            let mut h = String::new();
            match reader.read_line(&mut h) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.trim().eq_ignore_ascii_case("content-length")
            {
                body_len = v.trim().parse().unwrap_or(0);
            }
        }
        if body_len > 0 {
            let mut sink = vec![0u8; body_len.min(1 << 20)];
            if reader.read_exact(&mut sink).is_err() {
                return;
            }
        }
        if path.contains("/slow") {
            std::thread::sleep(SLOW);
        }
        if stop.load(Ordering::SeqCst) {
            let _ = out.shutdown(Shutdown::Both);
            return;
        }
        let body = format!("backend {name} path {path}\n");
        let resp = format!(
            "HTTP/1.1 200 OK\r\nx-backend: {name}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}
