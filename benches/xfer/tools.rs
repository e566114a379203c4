//! The tools a user would otherwise pick to copy a file, run against daemons of the
//! bench's own on loopback: `scp` through an `sshd` with a throw-away host key and
//! client key (default ciphers: what a user gets), and `rsync` to an `rsync --daemon`
//! (plaintext). Each daemon lives in a directory of its own and is killed on drop; when
//! a program is missing, or the daemon will not start, `start` says why instead, so
//! the bench can skip the row with a note.

use std::fs;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a daemon gets to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// An `sshd` on 127.0.0.1 that lets this user in with a key of its own.
pub struct Sshd {
    child: Child,
    port: u16,
    client_key: PathBuf,
    user: String,
    scp: PathBuf,
}

impl Sshd {
    /// Start one in `dir` (created): host key, client key, `authorized_keys`, config,
    /// pid file and log all in there. `Err` is the note to print when it cannot run.
    pub fn start(dir: &Path) -> Result<Sshd, String> {
        let sshd = program("sshd").ok_or("no sshd (Debian: openssh-server)")?;
        let scp = program("scp").ok_or("no scp (Debian: openssh-client)")?;
        let keygen = program("ssh-keygen").ok_or("no ssh-keygen (Debian: openssh-client)")?;
        let user = user_name().ok_or("no user name for this process's uid")?;
        let failed = |what: &str, e: io::Error| format!("{what}: {e}");
        fs::create_dir_all(dir).map_err(|e| failed("sshd's directory", e))?;
        let host_key = dir.join("host_key");
        let client_key = dir.join("client_key");
        for key in [&host_key, &client_key] {
            let made = Command::new(&keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(key)
                .stdin(Stdio::null())
                .status()
                .map_err(|e| failed("ssh-keygen", e))?;
            if !made.success() {
                return Err(format!("ssh-keygen failed ({made})"));
            }
        }
        let authorized = dir.join("authorized_keys");
        fs::copy(client_key.with_extension("pub"), &authorized)
            .map_err(|e| failed("authorized_keys", e))?;
        let config = dir.join("sshd_config");
        fs::write(&config, sshd_config(dir, &host_key, &authorized))
            .map_err(|e| failed("sshd_config", e))?;
        let port = free_port().map_err(|e| failed("a free port", e))?;
        let log = dir.join("sshd.log");
        let child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .args(["-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&log).map_err(|e| failed("sshd's log", e))?)
            .spawn()
            .map_err(|e| failed("sshd", e))?;
        let mut daemon = Sshd {
            child,
            port,
            client_key,
            user,
            scp,
        };
        wait_until_accepting(&mut daemon.child, port, &log)?;
        Ok(daemon)
    }

    /// Copy `src` to `dst` (an absolute path on this machine) with `scp`; wall seconds.
    pub fn copy(&self, src: &Path, dst: &Path) -> io::Result<f64> {
        let _ = fs::remove_file(dst);
        let t = Instant::now();
        let done = Command::new(&self.scp)
            .arg("-q")
            .arg("-i")
            .arg(&self.client_key)
            .args(["-P", &self.port.to_string()])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "BatchMode=yes", "-o", "LogLevel=ERROR"])
            .arg(src)
            .arg(format!("{}@127.0.0.1:{}", self.user, dst.display()))
            .stdin(Stdio::null())
            .status()?;
        let secs = t.elapsed().as_secs_f64();
        copied(done, src, dst, "scp")?;
        Ok(secs)
    }

    /// The cipher `ssh` offers first by the configuration a user has (`ssh -G`): the
    /// one this sshd, on its defaults, agrees to.
    pub fn default_cipher(&self) -> Option<String> {
        let out = Command::new(program("ssh")?)
            .args(["-G", "-p", &self.port.to_string(), "127.0.0.1"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let list = text
            .lines()
            .find_map(|line| line.strip_prefix("ciphers "))?;
        list.split(',').next().map(str::to_string)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The config: loopback only, this directory's keys, no PAM, no password, SFTP for
/// `scp` (it speaks SFTP since OpenSSH 9.0) through Debian's server when it is there.
fn sshd_config(dir: &Path, host_key: &Path, authorized: &Path) -> String {
    let sftp = Path::new("/usr/lib/openssh/sftp-server");
    let sftp = if sftp.exists() {
        sftp.display().to_string()
    } else {
        "internal-sftp".to_string()
    };
    format!(
        "ListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
         StrictModes no\nUsePAM no\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
         Subsystem sftp {sftp}\n",
        host_key.display(),
        dir.join("sshd.pid").display(),
        authorized.display(),
    )
}

/// An `rsync --daemon` on 127.0.0.1 with one writable module, `bench`.
pub struct RsyncDaemon {
    child: Child,
    port: u16,
    module: PathBuf,
    rsync: PathBuf,
}

impl RsyncDaemon {
    /// Start one in `dir` (created; the module is `dir/module`). `Err` is the note to
    /// print when it cannot run.
    pub fn start(dir: &Path) -> Result<RsyncDaemon, String> {
        let rsync = program("rsync").ok_or("no rsync (Debian: rsync)")?;
        let failed = |what: &str, e: io::Error| format!("{what}: {e}");
        let module = dir.join("module");
        fs::create_dir_all(&module).map_err(|e| failed("rsync's directory", e))?;
        // SAFETY: geteuid and getegid cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let config = dir.join("rsyncd.conf");
        let text = format!(
            "pid file = {}\nlog file = {}\nuse chroot = false\n\n[bench]\npath = {}\n\
             read only = false\nuid = {uid}\ngid = {gid}\n",
            dir.join("rsyncd.pid").display(),
            dir.join("rsyncd.log").display(),
            module.display(),
        );
        fs::write(&config, text).map_err(|e| failed("rsyncd.conf", e))?;
        let port = free_port().map_err(|e| failed("a free port", e))?;
        let log = dir.join("rsyncd.stderr");
        let child = Command::new(&rsync)
            .args(["--daemon", "--no-detach", "--address=127.0.0.1"])
            .arg(format!("--config={}", config.display()))
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&log).map_err(|e| failed("rsync's log", e))?)
            .spawn()
            .map_err(|e| failed("rsync --daemon", e))?;
        let mut daemon = RsyncDaemon {
            child,
            port,
            module,
            rsync,
        };
        wait_until_accepting(&mut daemon.child, port, &log)?;
        Ok(daemon)
    }

    /// Copy `src` into the module as `name` with `rsync --whole-file`; wall seconds.
    pub fn copy(&self, src: &Path, name: &str) -> io::Result<f64> {
        let dst = self.module.join(name);
        // A destination of the same size and time would be skipped.
        let _ = fs::remove_file(&dst);
        let t = Instant::now();
        let done = Command::new(&self.rsync)
            .args(["-q", "--whole-file"])
            .arg(src)
            .arg(format!("rsync://127.0.0.1:{}/bench/{name}", self.port))
            .stdin(Stdio::null())
            .status()?;
        let secs = t.elapsed().as_secs_f64();
        copied(done, src, &dst, "rsync")?;
        fs::remove_file(&dst)?;
        Ok(secs)
    }
}

impl Drop for RsyncDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Ok` when the tool exited well and `dst` has `src`'s length.
fn copied(done: std::process::ExitStatus, src: &Path, dst: &Path, tool: &str) -> io::Result<()> {
    if !done.success() {
        return Err(io::Error::other(format!("{tool} failed ({done})")));
    }
    if fs::metadata(dst)?.len() != fs::metadata(src)?.len() {
        return Err(io::Error::other(format!("{tool}'s copy is short")));
    }
    Ok(())
}

/// Where `name` is: on the `PATH`, or in /usr/sbin and /sbin (not on a user's `PATH`).
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The name of this process's user (scp logs in as it).
fn user_name() -> Option<String> {
    // SAFETY: getpwuid returns null or a pointer to a static entry, read at once.
    unsafe {
        let entry = libc::getpwuid(libc::geteuid());
        if entry.is_null() || (*entry).pw_name.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr((*entry).pw_name);
        Some(name.to_string_lossy().into_owned())
    }
}

/// A loopback port nothing listens on (just now).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A new file for a daemon's stderr.
fn log_file(path: &Path) -> io::Result<Stdio> {
    Ok(fs::File::create(path)?.into())
}

/// Wait until `port` accepts a connection; the note (with the daemon's log) if the
/// daemon exits or does not listen in time.
fn wait_until_accepting(child: &mut Child, port: u16, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let said = || {
        let text = fs::read_to_string(log).unwrap_or_default();
        text.trim().lines().last().unwrap_or("").to_string()
    };
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited ({status}): {}", said()));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("not listening after {START_TIMEOUT:?}: {}", said()))
}
