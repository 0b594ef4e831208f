#!/usr/bin/env bash
# The BlueZ tests (`make test-bluez`): boots Debian's kernel in a QEMU virtual machine with
# virtme-ng and runs tests/bluez/guest.py inside it, where the project's CLI reaches the virtual
# treadmills through bleak's BlueZ backend, a real bluetoothd and the kernel's Bluetooth stack
# (the host kernel needs none). Prints the guest's output and the wall time of the whole VM run.
#
# Needs (the Makefile's bluez-deps and venv targets install them): qemu-system-x86_64, a
# /boot/vmlinuz-* with the hci_vhci module (linux-image-amd64), bluetoothd and bluetoothctl
# (bluez), dbus-daemon (dbus), modprobe (kmod), a static busybox (busybox-static; virtme-ng's
# initramfs), and vng (virtme-ng, in the dev extra). A missing piece fails with its name; nothing
# is skipped. Run as root (the kernel image is readable by root only; the guest runs as root).
#
# Environment: VENV (default .venv), BLUEZ_VM_KERNEL (a vmlinuz path; default the newest in
# /boot), BLUEZ_VM_TIMEOUT (wall seconds for the whole VM run, default 480), BLUEZ_VM_ONLY (a
# comma-separated subset of the tests: scan,session,stop-key,link-drop), BLUEZ_VM_HCI_DEBUG=1 (log
# every HCI packet of the bumble controllers to bumble.log).
#
# The guest runs under TCG (--disable-kvm): /dev/kvm may exist on CI machines that are themselves
# virtual, and a nested KVM guest there hangs at boot. The host's file system is the guest's root,
# read-only (9p), so the venv and this checkout are used in place; the guest writes to its tmpfs.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
TIMEOUT=${BLUEZ_VM_TIMEOUT:-480}

missing=()
for cmd in qemu-system-x86_64 bluetoothctl dbus-daemon modprobe busybox; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
[ -x /usr/libexec/bluetooth/bluetoothd ] || missing+=("/usr/libexec/bluetooth/bluetoothd (bluez)")
[ -x "$VENV/bin/vng" ] || missing+=("$VENV/bin/vng (virtme-ng: make venv)")
[ -x "$VENV/bin/python" ] || missing+=("$VENV/bin/python (make venv)")
KERNEL=${BLUEZ_VM_KERNEL:-$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)}
if [ -z "$KERNEL" ] || [ ! -r "$KERNEL" ]; then
  missing+=("a readable kernel image /boot/vmlinuz-* (linux-image-amd64; readable by root only)")
else
  RELEASE=${KERNEL##*/vmlinuz-}
  find "/lib/modules/$RELEASE" -name 'hci_vhci.ko*' 2>/dev/null | grep -q . ||
    missing+=("the hci_vhci module for $RELEASE (/lib/modules/$RELEASE)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-bluez: FAILED before starting: missing ${missing[*]}" >&2
  echo "test-bluez: 'make bluez-deps venv' installs them (as root or with sudo)" >&2
  exit 1
fi

# The guest's file system is read-only: compile the byte code here, or every run in the guest
# compiles the project again (slow under TCG).
"$VENV/bin/python" -m compileall -q retro_treadmill protocols tests/bluez >/dev/null

export PATH="$PWD/$VENV/bin:$PATH"
# The guest writes its logs (bluetoothd, an HCI capture, each run's output and event log, what
# the treadmills received) to OUT, shared read-write with the host.
OUT=$(mktemp -d /tmp/test-bluez.XXXXXX)
LOG=$OUT/console.log
echo "test-bluez: booting $KERNEL under TCG (QEMU $(qemu-system-x86_64 --version | head -n 1 |
  awk '{print $4}'), timeout ${TIMEOUT} s; logs in $OUT"
start=$(date +%s%N)
set +e
timeout --kill-after=15 "$TIMEOUT" vng --run "$KERNEL" --disable-microvm --force-9p --disable-kvm \
  --cpus 2 --memory 1G --rwdir="$OUT" \
  --exec "BLUEZ_VM_WORK=$OUT BLUEZ_VM_ONLY=${BLUEZ_VM_ONLY:-} BLUEZ_VM_HCI_DEBUG=${BLUEZ_VM_HCI_DEBUG:-} \
    $PWD/$VENV/bin/python $PWD/tests/bluez/guest.py" \
  </dev/null 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e
wall_ms=$((($(date +%s%N) - start) / 1000000))
printf 'test-bluez: wall time of the whole VM test: %d.%01d s\n' $((wall_ms / 1000)) $((wall_ms % 1000 / 100))
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "test-bluez: FAILED: the VM run did not finish within ${TIMEOUT} s" >&2
  exit 1
fi
if ! grep -q '^bluez-vm: PASS' "$LOG"; then
  echo "test-bluez: FAILED (vng exit $rc); the guest's output is above, its logs in $OUT" >&2
  exit 1
fi
echo "test-bluez: passed"
