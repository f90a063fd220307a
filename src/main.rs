//! traffic-engineer: `serve` (the default) speaks MCP over stdio; the other commands build,
//! check and prove the stack from the command line. See `cli` for the arguments-to-
//! configuration step and the commands.

mod cli;

use std::process::ExitCode;

/// See Cargo.toml: many small short-lived allocations per document, and bounded fragmentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's options, set by an `.init_array` entry, which runs before Rust's runtime makes
/// its first allocation: arenas are committed as they are used rather than up front, and freed
/// pages go back to the system at once rather than after a delay. Without them the resident
/// memory of a small validate grew from 33 MB to 56 MB (the MCP server's target is 30 MB);
/// with them it is that of glibc's malloc, and large inputs take less (see README). A command
/// that ends when its work is done then keeps freed pages a few milliseconds ([`batch_memory`]).
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static MIMALLOC_OPTIONS: extern "C" fn() = mimalloc_options;

// numbers of `mi_option_e` in the mimalloc v3 that libmimalloc-sys 0.1.49 bundles
// (c_src/mimalloc/v3/include/mimalloc.h)
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[cfg(target_os = "linux")]
extern "C" fn mimalloc_options() {
    // SAFETY: mi_option_set only stores a number in mimalloc's option table; it may be called
    // at any time, from any thread, before or after mimalloc initialises.
    unsafe {
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}

fn main() -> ExitCode {
    let env = cli::Env::from_process();
    let config = match cli::Config::from_args(cli::parse(), &env) {
        Ok(config) => config,
        Err(e) => return cli::fail(&e),
    };
    if !config.is_server() {
        batch_memory();
    }
    cli::init_logging(config.log_filter.clone());
    cli::run(config).unwrap_or_else(|e| cli::fail(&e))
}

/// For a command that ends when its work is done (not `serve`, which gives memory back at
/// once because it lives on): freed pages are kept 10 ms for reuse before they go back to the
/// system. Returning them at once cost a validate of 100,000 documents on two cores 0.7 s of
/// system time in page faults, and a quarter of its wall time.
fn batch_memory() {
    // SAFETY: as in mimalloc_options; mimalloc reads the delay each time it purges.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 10) };
}
