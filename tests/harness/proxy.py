"""``auditor proxy`` run as an operator runs it: a process, a config file, a data dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.harness.openssh import SshClient, free_port, stop_process, wait_for_port

PROXY_ALIAS = "proxy.example.com"


@dataclass
class ProxyProcess:
    data_dir: Path
    config_path: Path
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(
        cls,
        data_dir: Path,
        directory: Path,
        config: str,
        nodes: dict[str, int] | None = None,
        proxy_options: str = "",
        prefix: tuple[str, ...] = (),
    ) -> ProxyProcess:
        """``prefix`` runs the proxy under another program (``strace -f -o FILE``)."""
        directory.mkdir(parents=True, exist_ok=True)
        for attempt in range(5):
            port = free_port()
            text = f"proxy_service:\n  listen_addr: 127.0.0.1:{port}\n{proxy_options}" + config
            if nodes:
                text += "nodes:\n" + "".join(f"  {n}: {{addr: 127.0.0.1}}\n" for n in nodes)
            config_path = directory / "auditor.yaml"
            config_path.write_text(text)
            log_path = directory / f"proxy.{attempt}.log"
            env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_")}
            env["AUDITOR_HOME"] = str(data_dir)
            env.pop("SSH_AUTH_SOCK", None)
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    [
                        *prefix,
                        sys.executable,
                        "-m",
                        "auditor",
                        "proxy",
                        "--config",
                        str(config_path),
                    ],
                    stderr=log,
                    stdout=log,
                    env=env,
                )
            try:
                wait_for_port(port, proc, timeout=20)
            except RuntimeError:
                text = log_path.read_text(errors="replace")
                if "Address already in use" in text:
                    continue
                raise RuntimeError(f"auditor proxy failed to start: {text}") from None
            return cls(data_dir, config_path, port, proc, log_path)
        raise RuntimeError("no free port for the proxy")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                stop_process(self.proc)
        return self.proc.returncode

    def route(self, client: SshClient, pattern: str = "*.example.com", agent: bool = True) -> None:
        """Configure ``client`` the way `auditor config ssh` does, for this proxy."""
        fwd = "yes" if agent else "no"
        hop = (
            f"ssh -F {client.config_path} -o 'ForwardAgent {fwd}' -p {self.port} "
            f"%r@{PROXY_ALIAS} -s proxy:%h:%p"
        )
        client.extra_config = [
            f"Host {PROXY_ALIAS}",
            "    HostName 127.0.0.1",
            f"    Port {self.port}",
            f"    HostKeyAlias {PROXY_ALIAS}",
            "    ProxyCommand none",
            f"Host {pattern}",
            f"    ProxyCommand {hop}",
        ]
