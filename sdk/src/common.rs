//! Helpers shared by every plugin kind: logging, configuration, and the plumbing that lets the
//! same plugin code run natively in unit tests.

/// Log levels (the host tags each line with the plugin's name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Writes a line to the host's log. Natively (unit tests) it goes to stderr.
pub fn log(level: Level, message: &str) {
    imp::log(level, message)
}

/// Reads one value of this plugin's configuration section (`[plugins.config.<name>]` in the
/// host's configuration). Natively, values set with [`testing::set_config`] are returned.
pub fn config_get(key: &str) -> Option<String> {
    imp::config_get(key)
}

/// Native test support: set configuration values that [`config_get`] returns.
pub mod testing {
    /// Sets a configuration value for the current thread (native builds only).
    pub fn set_config(key: &str, value: Option<&str>) {
        super::native::CONFIG.with(|c| {
            let mut c = c.borrow_mut();
            match value {
                Some(v) => {
                    c.insert(key.to_string(), v.to_string());
                }
                None => {
                    c.remove(key);
                }
            }
        });
    }
}

mod native {
    use std::cell::RefCell;
    use std::collections::HashMap;

    thread_local! {
        pub static CONFIG: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
    }
}

/// On wasm, route through the host imports of whichever world this plugin is built for.
#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Level;

    macro_rules! via {
        ($host:path) => {
            use $host as host;
            pub fn log(level: Level, message: &str) {
                let level = match level {
                    Level::Debug => host::Level::Debug,
                    Level::Info => host::Level::Info,
                    Level::Warn => host::Level::Warn,
                    Level::Error => host::Level::Error,
                };
                host::log(level, message);
            }
            pub fn config_get(key: &str) -> Option<String> {
                host::config_get(key)
            }
        };
    }

    #[cfg(feature = "allocator")]
    via!(crate::allocator::bindings::cyclades::plugin::host);
    #[cfg(all(feature = "disk-template", not(feature = "allocator")))]
    via!(crate::disk_template::bindings::cyclades::plugin::host);
    #[cfg(all(
        feature = "network-flavor",
        not(feature = "allocator"),
        not(feature = "disk-template")
    ))]
    via!(crate::network_flavor::bindings::cyclades::plugin::host);
    #[cfg(not(any(
        feature = "allocator",
        feature = "disk-template",
        feature = "network-flavor"
    )))]
    compile_error!("enable one of the features allocator, disk-template or network-flavor");
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::Level;

    pub fn log(level: Level, message: &str) {
        eprintln!("[{level:?}] {message}");
    }

    pub fn config_get(key: &str) -> Option<String> {
        super::native::CONFIG.with(|c| c.borrow().get(key).cloned())
    }
}

/// Implements the constructors every kind's generated types share.
macro_rules! common_impls {
    () => {
        impl Description {
            /// A description with no capability words.
            pub fn new(name: &str, kind: PluginKind, version: &str) -> Self {
                Description {
                    name: name.to_string(),
                    kind,
                    version: version.to_string(),
                    capabilities: Vec::new(),
                }
            }

            /// Adds capability words (shown by `plugin-inspect`).
            pub fn with_capabilities(mut self, words: &[&str]) -> Self {
                self.capabilities
                    .extend(words.iter().map(|w| w.to_string()));
                self
            }
        }

        impl PluginError {
            /// The caller's input is wrong (the API answers 400).
            pub fn invalid(message: impl Into<String>) -> Self {
                PluginError::InvalidInput(message.into())
            }

            /// The plugin failed (the API answers 500).
            pub fn internal(message: impl Into<String>) -> Self {
                PluginError::Internal(message.into())
            }
        }
    };
}
pub(crate) use common_impls;
