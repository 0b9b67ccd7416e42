//! A real browser for the admin console's tests: Debian's headless Chromium driven over WebDriver
//! by Debian's chromedriver (both installed by `scripts/test` from setup/debian-packages-test.txt),
//! with axe-core (setup/browser.sh) run inside the page.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How long a condition on the page may take to hold.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// chromedriver and one Chromium session; both end on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn axe_source() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../setup/browser/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is not installed at {} ({e}): run setup/browser.sh",
            path.display()
        )
    })
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium window of
    /// `width`×`height` with an empty profile.
    pub async fn start(width: u32, height: u32) -> Browser {
        let port = super::free_ports(1)[0];
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that Chromium's processes end with it (see Drop).
            .process_group(0)
            .spawn()
            .expect(
                "chromedriver is not installed: run setup/system.sh setup/debian-packages-test.txt",
            );
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                // No sandbox as root in a container; no background traffic to Google's hosts,
                // which this machine cannot reach.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-quic",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                ],
            }
        });
        let caps = caps.as_object().unwrap().clone();
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let attempt =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps.clone())
                    .connect(&format!("http://127.0.0.1:{port}"))
                    .await;
            match attempt {
                Ok(c) => break c,
                // chromedriver is still starting.
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session with headless Chromium: {e}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `condition` (a script) returns a value JavaScript counts as true; returns it.
    pub async fn until(&self, what: &str, condition: &str) -> Value {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            let v = self
                .client
                .execute(condition, vec![])
                .await
                .unwrap_or(Value::Null);
            // JavaScript's falsy values (of those WebDriver returns) mean "not yet".
            let falsy = match &v {
                Value::Null | Value::Bool(false) => true,
                Value::Number(n) => n.as_f64() == Some(0.0),
                Value::String(s) => s.is_empty(),
                _ => false,
            };
            if !falsy {
                return v;
            }
            if Instant::now() > deadline {
                let text = self.js("return document.body.innerText", vec![]).await;
                panic!("{what}: not so within {PAGE_TIMEOUT:?}; the page says:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element `css` names, once it is there.
    pub async fn click(&self, css: &str) {
        let e = self
            .client
            .wait()
            .at_most(PAGE_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
        e.click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Presses and releases `key` on the keyboard (wherever focus is).
    pub async fn press(&self, key: fantoccini::key::Key) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let value = char::from(key);
        let actions = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value })
            .then(KeyAction::Up { value });
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("cannot press {key:?}: {e}"));
    }

    /// The violations axe-core finds in the page now with impact `serious` or `critical`, as
    /// `rule id: help (targets)` lines.
    pub async fn serious_accessibility_violations(&self) -> Vec<String> {
        self.js(&axe_source(), vec![]).await;
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done(r.violations.map(v => ({
                        id: v.id, impact: v.impact, help: v.help,
                        targets: v.nodes.map(n => n.target.join(' ')) }))))
                    .catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e), targets: [] }]));",
                vec![],
            )
            .await
            .expect("axe-core ran");
        found
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(|v| format!("{}: {} ({})", v["id"], v["help"], v["targets"]))
            .collect()
    }

    /// The elements that reach past the window's right edge when the page as a whole is wider
    /// than the window (a sideways scroll bar), as `tag#id.class` (empty when it fits).
    pub async fn wider_than_window(&self) -> Vec<String> {
        let found = self
            .js(
                "if (document.documentElement.scrollWidth <= window.innerWidth + 1) return [];
                 return [...document.querySelectorAll('body *')]
                   .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                   .slice(-8)
                   .map(e => e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '')
                        + ' ' + Math.round(e.getBoundingClientRect().right) + 'px');",
                vec![],
            )
            .await;
        serde_json::from_value(found).unwrap()
    }

    /// Saves a PNG of the window when `SPEECHBATCH_CONSOLE_SCREENSHOTS` names a folder (the
    /// README's pictures come from here).
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("SPEECHBATCH_CONSOLE_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(PathBuf::from(dir).join(name), png).unwrap();
    }
}

impl Browser {
    /// Ends the WebDriver session (Chromium quits), then chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and any Chromium process a failed test left running.
        let _ = Command::new("kill")
            // `--` first: without it procps' kill does not read `-PID` as a process group.
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}
