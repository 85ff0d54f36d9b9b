package llb

import "fmt"

// kataUnitDir is where Kata's agent Makefile installs its units.
const kataUnitDir = "/usr/lib/systemd/system"

// kataAgentService is Kata's kata-agent.service (src/agent/kata-agent.service.in
// with BINDIR=/usr/bin and AGENT_NAME=kata-agent): the agent as a service of
// kata-containers.target, with its output on the console and the VM powered
// off when it ends.
const kataAgentService = `[Unit]
Description=Kata Containers Agent
Documentation=https://github.com/kata-containers/kata-containers
Wants=kata-containers.target

[Service]
# Send agent output to tty to allow capture debug logs
# from a VM vsock port
StandardOutput=tty
Type=simple
ExecStart=/usr/bin/kata-agent
LimitNOFILE=1048576
# ExecStop is required for static agent tracing; in all other scenarios
# the runtime handles shutting down the VM.
ExecStop=/bin/sync ; /usr/bin/systemctl --force poweroff
FailureAction=poweroff
# Discourage OOM-killer from touching the agent
OOMScoreAdjust=-997
`

// kataContainersTarget is Kata's kata-containers.target: the target the
// guest boots into, pulling the agent in.
const kataContainersTarget = `[Unit]
Description=Kata Containers Agent Target
Requires=basic.target
Requires=tmp.mount
Wants=chronyd.service
Requires=kata-agent.service
Conflicts=rescue.service rescue.target
After=basic.target rescue.service rescue.target
AllowIsolate=yes
`

// kataAgentUnitsScript writes both units below root, as the agent's
// `make install` does when the agent is not init.
func kataAgentUnitsScript(root string) string {
	return fmt.Sprintf(`mkdir -p %[1]s%[2]s
cat > %[1]s%[2]s/kata-agent.service <<'KFORGE_EOF'
%[3]sKFORGE_EOF
cat > %[1]s%[2]s/kata-containers.target <<'KFORGE_EOF'
%[4]sKFORGE_EOF
chmod 0644 %[1]s%[2]s/kata-agent.service %[1]s%[2]s/kata-containers.target
`, root, kataUnitDir, kataAgentService, kataContainersTarget)
}
