#!/bin/bash
# Admission within quota: pre-flight capping (or refusal with --strict),
# the spawn pause past pause_at and the resume under resume_at, the
# per-agent cap's warning and abort, and a ramp that halts on a batch that
# shows no life.
. "$(dirname "$0")/lib.sh"
cat >"$CONF" <<'C'
[spawn]
abort_grace = 1
stagger_batch = 1000
stagger_interval = 0
stagger_confirm_timeout = 1
[quota]
window = 4s
window_tokens = 100000
C
start_daemon

# Pre-flight: 100000 left, 20000 per agent, factor 0.6: 3 agents at most.
job_file pre '["true"]' 8 '{"concurrency":10,"per_agent_tokens":20000}' >/dev/null
swarmctl submit --dry-run --json "$T/pre.json" >"$T/plan" || fail "dry run"
assert_eq "$(json 'j["plan"]["safe_fanout"]' <"$T/plan")" 3 "safe fan-out"
assert_eq "$(json 'j["plan"]["need_tokens"]' <"$T/plan")" 160000.0 "need"
assert_eq "$(swarmctl jobs --json | json 'len(j)')" 0 "dry run stores nothing"
swarmctl submit --strict "$T/pre.json" 2>"$T/err"; assert_eq $? 3 "strict refusal exit"
assert_contains "$(cat "$T/err")" "quota"
assert_eq "$(swarmctl jobs --json | json 'len(j)')" 0 "strict refusal stores nothing"
job=$(swarmctl submit "$T/pre.json" 2>"$T/warn") || fail "capped submit"
assert_contains "$(cat "$T/warn")" "concurrency capped at 3"
assert_eq "$(swarmctl show "$job" --json | json 'j["concurrency"]')" 3 "stored concurrency"
wait_until 20 job_is "$job" done || fail "capped job did not finish"

# Pause: an agent reports 85% of the window; nothing new starts until
# the window has rolled past it, then spawning resumes by itself.
f=$(job_file burn '["sh","-c","swarmctl report --input 85000; exec sleep 60"]' 1)
burn=$(swarmctl submit "$f")
wait_until 20 sh -c "swarmctl quota --json | grep -q '\"paused\"'" || fail "no pause at 85%"
f=$(job_file wait '["true"]' 1)
held=$(swarmctl submit "$f")
assert_eq "$(count "$held" queued)" 1 "held while paused"
swarmctl events --json | grep '"quota_paused"' | json 'j["used"]' | grep -qx 85000.0 || fail "pause event numbers"
assert_eq "$(swarmctl show "$(swarmctl show "$burn/c0" --json | json 'j["agent"]')" --json | json 'j["state"]')" running "running agents go on"
wait_until 20 job_is "$held" done || fail "spawning did not resume"
swarmctl events --json | grep -q '"quota_resumed"' || fail "resume event"
swarmctl abort "$burn" --grace 1 >/dev/null

# Caps: 80% brings a checkpoint message, 100% aborts with token_cap.
cat >"$T/capper.sh" <<'A'
#!/bin/sh
swarmctl report --input 850
swarmctl recv --wait 10 >"$T/capmail"
swarmctl report --input 200
exec sleep 60
A
chmod +x "$T/capper.sh"
f=$(job_file cap '["'"$T"'/capper.sh"]' 1 '{"per_agent_tokens":1000,"env":{"T":"'"$T"'"}}')
cap=$(swarmctl submit "$f")
wait_until 20 chunk_is "$cap/c0" aborted || fail "cap did not abort"
assert_contains "$(cat "$T/capmail")" "checkpoint"
assert_contains "$(swarmctl show "$cap/c0" --json | json 'j["reason"]')" "token_cap"
swarmctl events --job "$cap" --json | grep -q '"cap_warning"' || fail "cap_warning event"
swarmctl events --job "$cap" --json | grep '"cap_reached"' | json 'j["used"]' | grep -qx 1050 || fail "cap_reached numbers"

# The cap is a budget the agent may use whole: exactly reaching it is fine.
f=$(job_file exact '["sh","-c","swarmctl report --input 1000 && swarmctl heartbeat && exit 0"]' 1 '{"per_agent_tokens":1000}')
exact=$(swarmctl submit "$f")
wait_until 20 job_is "$exact" done || fail "exact job"
assert_eq "$(swarmctl show "$exact/c0" --json | json 'j["state"]')" done "a cap reached exactly is not exceeded"

# Stagger: batches of 2; silent agents halt the ramp at 2.
f=$(job_file ramp '["sleep","60"]' 4 '{"concurrency":4,"stagger":{"batch":2,"interval":0}}')
ramp=$(swarmctl submit "$f")
wait_until 20 sh -c "swarmctl events --job $ramp --json | grep -q stagger_halted" || fail "ramp did not halt"
assert_eq "$(swarmctl ps --job "$ramp" --json | json 'len(j)')" 2 "two running while halted"
assert_eq "$(swarmctl show "$ramp" --json | json 'j["stagger"]["halted"]')" true
assert_contains "$(swarmctl show "$ramp" --json | json 'j["stagger"]["reason"]')" "showed no life"
swarmctl abort "$ramp" --grace 1 >/dev/null
# Agents that show life let it grow to the full concurrency.
f=$(job_file ramp2 '["sh","-c","swarmctl heartbeat; exec sleep 60"]' 4 '{"concurrency":4,"stagger":{"batch":2,"interval":0.2}}')
ramp2=$(swarmctl submit "$f")
wait_until 20 sh -c "[ \$(swarmctl ps --job $ramp2 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') = 4 ]" || fail "ramp did not grow"
swarmctl events --job "$ramp2" --json | grep -q '"stagger_step"' || fail "step event"
swarmctl abort "$ramp2" --grace 1 >/dev/null
ok
