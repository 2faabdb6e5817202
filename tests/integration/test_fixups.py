# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Xen fixups through real mounts, diffs and commits (README "Domain
profiles and fixups", DESIGN.md "Fixups").

Templates are built offline from the distribution-shaped recipes in
tests/data/distros (Debian 4 with sysvinit, Debian 12 with systemd on a
merged /usr, CentOS 5 with its xm-era kernel-xen, Alpine with busybox init
and OpenRC), each mounted with its profile from the same folder:

  debian4.recipe  + dunsinane.cfg   PyGRUB, console xvc0, static address
  debian12.recipe + bookworm.cfg    PyGRUB, default console (hvc0), enX0
  centos5.recipe  + inverness.cfg   PyGRUB, no console key (xvc0), ifcfg
  alpine.recipe   + birnam.cfg      kernel from dom0, DHCP, no udev

What is checked: the exact content of every file a fixup touches, read
whole, in small pieces and at offsets, with st_size (stat and readdir)
equal to what is read; listings with hidden names gone and added ones
there; modes and owners of what is added and of what is edited; the
write-back idempotence of every fixed file through an --overlay mount
across remounts; the view following the overlay; `domufs diff` labels and
exit codes; commits with e2fsck, debugfs and PyGRUB; refused profiles.
"""

import hashlib
import io
import os
import re
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

import fixtures as F
from fixtures import debugfs_cat, e2fsck_clean, sh

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent
DISTROS = SRC / "tests" / "data" / "distros"
PYGRUB = "/usr/lib/xen-4.17/bin/pygrub"
MIB = 1 << 20

# --------------------------------------------------------------------------
# what each distribution's view must look like

HASH_D4 = ("$6$dunsinane$I3wD3CT60U89Cgz7YycusyK3mzACGG.V208/sak3bmq5biSAMnmUTZIYVmCYaKhrT9WWu2pir6I3oJX"
           "8E0TYe/")
HASH_D12 = ("$6$bookworm12$JdNHOMCN97GvqY65wxA.3Uox4EleUoe3BNpb2VUxCjJPQ4Knwc5pnZ9BNOM0uAXtoOp/K/fNDjqsE"
            "mHN6JVFp1")
HASH_C5 = "$1$invernes$xgC/0KmINceoZF5vyW8Gt1"
HASH_ALP = ("$6$birnamwood$lODmrzLC4o94DNmrIzfji0l69hOze9n5TTC.EBu2blNP8VBr4UCn29ZBZ7HjBHKmPde01cnf.D6tfbLH"
            "Mymsf.")
KEY_MACDUFF = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDIJYNSyp/U0zH442TB9oB6jztjE5FHQ+PciryVkmxJs "
               "macduff@example")
KEY_FLEANCE = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE102NNK5GDJ8ARFmsCnPUSt4M4MsQ+nx2fyzBoNQACK "
               "fleance@example")

# the fstab fixup's marker before a line it disabled (a disk the domU lacks)
FSTAB_OFF = "# domufs: disabled, a disk the domU does not have:\n#"
FSTAB_TAIL = ("sysfs\t/sys\tsysfs\tdefaults\t0\t0\n"
              "devpts\t/dev/pts\tdevpts\tgid=5,mode=620\t0\t0\n")
MODPROBE_D = ("# Xen paravirtual drivers (domufs)\n"
              "alias scsi_hostadapter xenblk\n"
              "alias eth0 xennet\n")
GRUB_HEADER = "# Written by domufs for PyGRUB: the kernel and initrd in /boot.\n"
KEYGEN_COMMENT = "# domufs: make the SSH host keys the template does not carry\n"

# The firstboot fixup: the run-once script (FB_SCRIPT, its content and its
# run: test_firstboot.py) and what starts it, per init system.
FB_SCRIPT = "usr/lib/domufs/firstboot"
FB_WRITTEN = '# Written by domufs (the "firstboot" fixup): runs /usr/lib/domufs/firstboot.\n'
FB_SYSV = ("#!/bin/sh\n"
           "### BEGIN INIT INFO\n"
           "# Provides:          domufs-firstboot\n"
           "# Required-Start:    $local_fs $remote_fs\n"
           "# Required-Stop:\n"
           "# X-Start-Before:    ssh sshd dropbear\n"
           "# Default-Start:     2 3 4 5\n"
           "# Default-Stop:\n"
           "# Short-Description: The first boot of this domain (domufs)\n"
           "# Description:       This guest's own SSH host keys, then the xenstore\n"
           "#                    handshake with dom0; runs once.\n"
           "### END INIT INFO\n"
           "#\n"
           "# chkconfig: 2345 01 99\n"
           "# description: The first boot of this domain (domufs): this guest's own \\\n"
           "#              SSH host keys, then the xenstore handshake with dom0; once.\n"
           "#\n" + FB_WRITTEN + "\n"
           'case "$1" in\n'
           "start)\n"
           "\t[ -f /usr/lib/domufs/firstboot ] || exit 0\n"
           "\t/bin/sh /usr/lib/domufs/firstboot\n"
           "\t;;\n"
           "stop|status|restart|reload|force-reload)\n"
           "\t;;\n"
           "*)\n"
           '\techo "Usage: $0 {start|stop}" >&2\n'
           "\texit 3\n"
           "\t;;\n"
           "esac\n")
FB_UNIT = (FB_WRITTEN +
           "[Unit]\n"
           "Description=The first boot of this domain (domufs): SSH host keys, xenstore handshake\n"
           "ConditionPathExists=!/var/lib/domufs/firstboot.done\n"
           "After=local-fs.target\n"
           "Before=ssh.service sshd.service dropbear.service\n"
           "\n"
           "[Service]\n"
           "Type=oneshot\n"
           "RemainAfterExit=no\n"
           "ExecStart=/bin/sh /usr/lib/domufs/firstboot\n"
           "StandardOutput=journal+console\n"
           "StandardError=journal+console\n"
           "\n"
           "[Install]\n"
           "WantedBy=multi-user.target\n")
FB_OPENRC = ("#!/sbin/openrc-run\n" + FB_WRITTEN + "\n"
             'description="The first boot of this domain (domufs): SSH host keys, xenstore handshake"\n'
             "\n"
             "depend() {\n"
             "\tneed localmount\n"
             "\tafter bootmisc\n"
             "\tbefore sshd dropbear\n"
             "}\n"
             "\n"
             "start() {\n"
             "\t[ -f /usr/lib/domufs/firstboot ] || return 0\n"
             '\tebegin "domufs first boot"\n'
             "\t/bin/sh /usr/lib/domufs/firstboot\n"
             "\teend $?\n"
             "}\n")


def grub_cfg(title, kernel, initrd, root, console):
    return (GRUB_HEADER + "set default=0\nset timeout=1\n\n"
            f"menuentry '{title}' {{\n"
            f"\tlinux {kernel} root={root} ro console={console}\n"
            f"\tinitrd {initrd}\n"
            "}\n")


def menu_lst(title, kernel, initrd, root, console, hd="(hd0)"):
    return (GRUB_HEADER + "default 0\ntimeout 1\n\n"
            f"title {title}\n"
            f"\troot {hd}\n"
            f"\tkernel {kernel} root={root} ro console={console}\n"
            f"\tinitrd {initrd}\n")


# Per distribution:
#   files    path -> the exact content the view shows (edited or created)
#   created  path -> mode, for those of `files` the template does not have (and
#            the firstboot script, whose content test_firstboot.py checks)
#   dirs     path -> mode of directories the fixups add
#   symlinks path -> target of symlinks the fixups add
#   nodes    path -> (S_IFCHR|S_IFBLK, major, minor, mode, gid)
#   hidden   paths gone from the view
#   kept     template files that must read exactly as in the template
#   owners   path -> (mode, uid, gid): template metadata an edit keeps
#   absent   paths that must not exist in the view
#   labels   path -> the fixup `domufs diff` names for it
EXPECT = {
    "debian4": dict(
        recipe="debian4.recipe", profile="dunsinane.cfg",
        files={
            "etc/fstab": (
                "# /etc/fstab: static file system information.\n"
                "proc /proc proc defaults 0 0\n"
                "/dev/xvda\t/\text4\tdefaults,errors=remount-ro\t0\t1\n"
                + FSTAB_OFF + "/dev/sda2 none swap sw 0 0\n" + FSTAB_TAIL),
            "etc/inittab": (
                "# /etc/inittab: init(8) configuration.\n"
                "id:2:initdefault:\n"
                "si::sysinit:/etc/init.d/rcS\n"
                "~~:S:wait:/sbin/sulogin\n"
                "l2:2:wait:/etc/init.d/rc 2\n"
                "ca:12345:ctrlaltdel:/sbin/shutdown -t1 -a -r now\n"
                "#1:2345:respawn:/sbin/getty 38400 tty1\n"
                "#2:23:respawn:/sbin/getty 38400 tty2\n"
                "#T0:23:respawn:/sbin/getty -L ttyS0 9600 vt100\n"
                "xvc0:2345:respawn:/sbin/getty -L xvc0 115200 vt100\n"),
            "etc/securetty": "console\ntty1\ntty2\nxvc0\n",
            "etc/hostname": "dunsinane.example.org\n",
            "etc/hosts": "127.0.0.1 localhost\n127.0.1.1\tdunsinane.example.org dunsinane\n",
            "etc/network/interfaces": (
                "# The loopback network interface\n"
                "auto lo\n"
                "iface lo inet loopback\n"
                "\n"
                "# The primary network interface\n"
                "\n"
                "# domufs: vif 0, 00:16:3e:00:04:01\n"
                "allow-hotplug eth0\n"
                "iface eth0 inet static\n"
                "\taddress 192.0.2.41\n"
                "\tnetmask 255.255.255.0\n"
                "\tgateway 192.0.2.1\n"
                "\tdns-nameservers 192.0.2.53\n"),
            "etc/resolv.conf": "nameserver 192.0.2.53\n",
            "etc/shadow": f"root:{HASH_D4}:13000:0:99999:7:::\ndaemon:*:13000:0:99999:7:::\n",
            "etc/default/ssh": (
                "SSHD_OPTS=\n" + KEYGEN_COMMENT +
                "for t in dsa rsa; do [ -f /etc/ssh/ssh_host_${t}_key ] || ssh-keygen -q -N '' -t $t "
                "-f /etc/ssh/ssh_host_${t}_key >/dev/null 2>&1; done\n"),
            "etc/modprobe.d/domufs-xen.conf": MODPROBE_D,
            "etc/initramfs-tools/modules": (
                "# List of modules that you want to include in your initramfs.\n"
                "xenblk\nxennet\n"),
            "boot/grub/menu.lst": menu_lst("debian, Linux 2.6.18-6-xen-amd64",
                                           "/boot/vmlinuz-2.6.18-6-xen-amd64",
                                           "/boot/initrd.img-2.6.18-6-xen-amd64", "/dev/xvda", "xvc0"),
            "root/.ssh/authorized_keys": KEY_MACDUFF + "\n",
            "etc/init.d/domufs-firstboot": FB_SYSV,
        },
        created={"etc/resolv.conf": 0o644, "etc/modprobe.d/domufs-xen.conf": 0o644,
                 "boot/grub/menu.lst": 0o644, "root/.ssh/authorized_keys": 0o600,
                 "etc/init.d/domufs-firstboot": 0o755, FB_SCRIPT: 0o755},
        dirs={"boot/grub": 0o755, "root/.ssh": 0o700, "run": 0o755,
              # the recipe is that small: no init.d, no rcN.d, no /usr/lib
              "etc/init.d": 0o755, "etc/rc2.d": 0o755, "etc/rc3.d": 0o755, "etc/rc4.d": 0o755,
              "etc/rc5.d": 0o755, "usr/lib": 0o755, "usr/lib/domufs": 0o755},
        symlinks={f"etc/rc{n}.d/S01domufs-firstboot": "../init.d/domufs-firstboot" for n in range(2, 6)},
        nodes={},
        hidden=["etc/ssh/ssh_host_rsa_key", "etc/ssh/ssh_host_rsa_key.pub",
                "etc/ssh/ssh_host_dsa_key", "etc/ssh/ssh_host_dsa_key.pub",
                "etc/udev/rules.d/z25_persistent-net.rules",
                "etc/udev/rules.d/z45_persistent-net-generator.rules"],
        kept=["etc/passwd", "etc/group", "etc/modprobe.d/aliases", "etc/ssh/sshd_config",
              "etc/udev/persistent-net-generator.rules", "etc/debian_version", "sbin/init"],
        owners={"etc/shadow": (0o640, 0, 42), "etc/inittab": (0o644, 0, 0)},
        absent=["dev/xvda", "dev/hvc0"],     # udev makes nodes: no static ones
        labels={
            "etc/fstab": "fstab", "etc/inittab": "console", "etc/securetty": "securetty",
            "etc/modprobe.d/domufs-xen.conf": "modules", "etc/initramfs-tools/modules": "modules",
            "etc/udev/rules.d/z25_persistent-net.rules": "udev",
            "etc/udev/rules.d/z45_persistent-net-generator.rules": "udev",
            "run": "dirs",
            "etc/hostname": "identity", "etc/hosts": "identity", "etc/default/ssh": "identity",
            "etc/ssh/ssh_host_rsa_key": "identity", "etc/ssh/ssh_host_rsa_key.pub": "identity",
            "etc/ssh/ssh_host_dsa_key": "identity", "etc/ssh/ssh_host_dsa_key.pub": "identity",
            "etc/network/interfaces": "network", "etc/resolv.conf": "network",
            "etc/shadow": "accounts", "root/.ssh": "accounts", "root/.ssh/authorized_keys": "accounts",
            "boot/grub": "bootloader", "boot/grub/menu.lst": "bootloader",
            "etc/init.d": "firstboot", "etc/init.d/domufs-firstboot": "firstboot",
            "etc/rc2.d": "firstboot", "etc/rc2.d/S01domufs-firstboot": "firstboot",
            "etc/rc3.d": "firstboot", "etc/rc3.d/S01domufs-firstboot": "firstboot",
            "etc/rc4.d": "firstboot", "etc/rc4.d/S01domufs-firstboot": "firstboot",
            "etc/rc5.d": "firstboot", "etc/rc5.d/S01domufs-firstboot": "firstboot",
            "usr/lib": "firstboot", "usr/lib/domufs": "firstboot", FB_SCRIPT: "firstboot",
        },
    ),
    "debian12": dict(
        recipe="debian12.recipe", profile="bookworm.cfg",
        files={
            "etc/fstab": (
                "# /etc/fstab: static file system information.\n"
                "/dev/xvda\t/\text4\terrors=remount-ro\t0\t1\n"
                "proc\t/proc\tproc\tdefaults\t0\t0\n" + FSTAB_TAIL),
            "etc/hostname": "fleance.example.org\n",
            "etc/hosts": ("127.0.0.1\tlocalhost\n"
                          "127.0.1.1\tfleance.example.org fleance\n"
                          "\n"
                          "::1     localhost ip6-localhost ip6-loopback\n"
                          "ff02::1 ip6-allnodes\n"),
            "etc/machine-id": "",
            "etc/network/interfaces": (
                "# interfaces(5) file used by ifup(8) and ifdown(8)\n"
                "source /etc/network/interfaces.d/*\n"
                "\n"
                "auto lo\n"
                "iface lo inet loopback\n"
                "\n"
                "# domufs: vif 0, 00:16:3e:00:12:01\n"
                "allow-hotplug enX0\n"
                "iface enX0 inet static\n"
                "\taddress 192.0.2.12\n"
                "\tnetmask 255.255.255.128\n"
                "\tgateway 192.0.2.1\n"
                "\tdns-nameservers 192.0.2.53 192.0.2.54\n"),
            "etc/resolv.conf": "domain example.net\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n",
            "etc/shadow": f"root:{HASH_D12}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
            "etc/modprobe.d/domufs-xen.conf": MODPROBE_D,
            "etc/initramfs-tools/modules": (
                "# List of modules that you want to include in your initramfs.\n"
                "# They will be loaded at boot time in the order below.\n"
                "xen-blkfront\nxen-netfront\n"),
            "etc/systemd/system/ssh.service.d/domufs-hostkeys.conf": (
                KEYGEN_COMMENT + "[Service]\nExecStartPre=\nExecStartPre=-/usr/bin/ssh-keygen -A\n"
                "ExecStartPre=/usr/sbin/sshd -t\n"),
            "boot/grub/grub.cfg": grub_cfg("debian, Linux 6.1.0-18-amd64", "/boot/vmlinuz-6.1.0-18-amd64",
                                           "/boot/initrd.img-6.1.0-18-amd64", "/dev/xvda", "hvc0"),
            "root/.ssh/authorized_keys": (
                KEY_FLEANCE + "\n" + 'from="192.0.2.0/24",no-pty ' + KEY_MACDUFF + "\n"),
            "etc/systemd/system/domufs-firstboot.service": FB_UNIT,
        },
        created={"etc/modprobe.d/domufs-xen.conf": 0o644,
                 "etc/systemd/system/ssh.service.d/domufs-hostkeys.conf": 0o644,
                 "boot/grub/grub.cfg": 0o644, "root/.ssh/authorized_keys": 0o600,
                 "etc/systemd/system/domufs-firstboot.service": 0o644, FB_SCRIPT: 0o755},
        dirs={"boot/grub": 0o755, "root/.ssh": 0o700, "etc/systemd/system/ssh.service.d": 0o755,
              "usr/lib/domufs": 0o755},
        symlinks={"etc/systemd/system/multi-user.target.wants/domufs-firstboot.service":
                  "/etc/systemd/system/domufs-firstboot.service",
                  "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service":
                  "/lib/systemd/system/serial-getty@.service"},
        nodes={},
        hidden=["etc/ssh/ssh_host_rsa_key", "etc/ssh/ssh_host_rsa_key.pub",
                "etc/ssh/ssh_host_ecdsa_key", "etc/ssh/ssh_host_ecdsa_key.pub",
                "etc/ssh/ssh_host_ed25519_key", "etc/ssh/ssh_host_ed25519_key.pub",
                "etc/udev/rules.d/70-persistent-net.rules"],
        kept=["etc/passwd", "etc/group", "usr/lib/os-release", "etc/ssh/sshd_config", "etc/debian_version",
              "usr/lib/systemd/system/serial-getty@.service", "boot/vmlinuz-6.1.0-18-amd64"],
        owners={"etc/shadow": (0o640, 0, 42), "etc/machine-id": (0o444, 0, 0)},
        absent=["dev/xvda", "dev/hvc0", "etc/securetty", "etc/inittab",
                "etc/systemd/system/getty.target.wants/serial-getty@xvc0.service"],
        labels={
            "etc/fstab": "fstab",
            "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service": "console",
            "etc/modprobe.d/domufs-xen.conf": "modules", "etc/initramfs-tools/modules": "modules",
            "etc/udev/rules.d/70-persistent-net.rules": "udev",
            "etc/hostname": "identity", "etc/hosts": "identity", "etc/machine-id": "identity",
            "etc/ssh/ssh_host_rsa_key": "identity", "etc/ssh/ssh_host_rsa_key.pub": "identity",
            "etc/ssh/ssh_host_ecdsa_key": "identity", "etc/ssh/ssh_host_ecdsa_key.pub": "identity",
            "etc/ssh/ssh_host_ed25519_key": "identity", "etc/ssh/ssh_host_ed25519_key.pub": "identity",
            "etc/systemd/system/ssh.service.d": "identity",
            "etc/systemd/system/ssh.service.d/domufs-hostkeys.conf": "identity",
            "etc/network/interfaces": "network", "etc/resolv.conf": "network",
            "etc/shadow": "accounts", "root/.ssh": "accounts", "root/.ssh/authorized_keys": "accounts",
            "boot/grub": "bootloader", "boot/grub/grub.cfg": "bootloader",
            "etc/systemd/system/domufs-firstboot.service": "firstboot",
            "etc/systemd/system/multi-user.target.wants/domufs-firstboot.service": "firstboot",
            "usr/lib/domufs": "firstboot", FB_SCRIPT: "firstboot",
        },
    ),
    "centos5": dict(
        recipe="centos5.recipe", profile="inverness.cfg",
        files={
            "etc/fstab": (
                "/dev/xvda\t/\text4\tdefaults\t1\t1\n"
                "tmpfs                   /dev/shm                tmpfs   defaults        0 0\n"
                "devpts                  /dev/pts                devpts  gid=5,mode=620  0 0\n"
                "sysfs                   /sys                    sysfs   defaults        0 0\n"
                "proc                    /proc                   proc    defaults        0 0\n"
                + FSTAB_OFF +
                "LABEL=SWAP-sda2         swap                    swap    defaults        0 0\n"),
            "etc/inittab": (
                "#\n"
                "# inittab       This file describes how the INIT process should set up\n"
                "#               the system in a certain run-level.\n"
                "#\n"
                "id:3:initdefault:\n"
                "si::sysinit:/etc/rc.d/rc.sysinit\n"
                "l3:3:wait:/etc/rc.d/rc 3\n"
                "ca::ctrlaltdel:/sbin/shutdown -t3 -r now\n"
                "# Run gettys in standard runlevels\n"
                "#1:2345:respawn:/sbin/mingetty tty1\n"
                "#2:2345:respawn:/sbin/mingetty tty2\n"
                "x:5:respawn:/etc/X11/prefdm -nodaemon\n"
                "xvc0:2345:respawn:/sbin/agetty -L xvc0 115200 vt100\n"),
            "etc/securetty": "console\nvc/1\ntty1\ntty2\nxvc0\n",
            "etc/modprobe.conf": ("alias eth0 xennet\n"
                                  "alias scsi_hostadapter xenblk\n"
                                  "options snd-card-0 index=0\n"),
            "etc/sysconfig/network": ("NETWORKING=yes\n"
                                      "NETWORKING_IPV6=no\n"
                                      "HOSTNAME=inverness.example.org\n"),
            "etc/hosts": ("# Do not remove the following line, or various programs\n"
                          "# that require network functionality will fail.\n"
                          "127.0.0.1\t\tlocalhost.localdomain localhost\n"
                          "127.0.1.1\tinverness.example.org inverness\n"
                          "::1\t\tlocalhost6.localdomain6 localhost6\n"),
            "etc/sysconfig/network-scripts/ifcfg-eth0": (
                "# Intel Corporation 82540EM Gigabit Ethernet Controller\n"
                "DEVICE=eth0\n"
                "BOOTPROTO=none\n"
                "HWADDR=00:16:3e:00:05:0b\n"
                "ONBOOT=yes\n"
                "TYPE=Ethernet\n"
                "IPADDR=192.0.2.5\n"
                "NETMASK=255.255.255.0\n"
                "GATEWAY=192.0.2.1\n"
                "DNS1=192.0.2.53\n"
                "DNS2=192.0.2.54\n"),
            "etc/resolv.conf": "nameserver 192.0.2.53\nnameserver 192.0.2.54\n",
            "etc/shadow": f"root:{HASH_C5}:14000:0:99999:7:::\nbin:*:14000:0:99999:7:::\n",
            "boot/grub/grub.conf": menu_lst("centos, Linux 2.6.18-398.el5xen",
                                            "/boot/vmlinuz-2.6.18-398.el5xen",
                                            "/boot/initrd-2.6.18-398.el5xen.img", "/dev/xvda", "xvc0"),
            "root/.ssh/authorized_keys": KEY_MACDUFF + "\n",
            "etc/rc.d/init.d/domufs-firstboot": FB_SYSV,
        },
        created={"etc/resolv.conf": 0o644, "root/.ssh/authorized_keys": 0o600,
                 "etc/rc.d/init.d/domufs-firstboot": 0o755, FB_SCRIPT: 0o755},
        dirs={"root/.ssh": 0o700, "run": 0o755,
              "etc/rc.d/init.d": 0o755, "etc/rc.d/rc2.d": 0o755, "etc/rc.d/rc3.d": 0o755,
              "etc/rc.d/rc4.d": 0o755, "etc/rc.d/rc5.d": 0o755, "usr/lib": 0o755,
              "usr/lib/domufs": 0o755},
        symlinks={f"etc/rc.d/rc{n}.d/S01domufs-firstboot": "../init.d/domufs-firstboot"
                  for n in range(2, 6)},
        nodes={},
        hidden=["etc/ssh/ssh_host_key", "etc/ssh/ssh_host_key.pub",
                "etc/ssh/ssh_host_rsa_key", "etc/ssh/ssh_host_rsa_key.pub",
                "etc/ssh/ssh_host_dsa_key", "etc/ssh/ssh_host_dsa_key.pub"],
        kept=["etc/passwd", "etc/sysconfig/network-scripts/ifcfg-lo", "etc/redhat-release",
              "etc/ssh/sshd_config"],
        owners={"etc/shadow": (0o400, 0, 0), "boot/grub/grub.conf": (0o600, 0, 0)},
        absent=["etc/hostname", "etc/modprobe.d", "etc/default/ssh", "dev/xvda",
                "etc/sysconfig/network-scripts/ifcfg-enX0", "boot/grub/grub.cfg"],
        labels={
            "etc/fstab": "fstab", "etc/inittab": "console", "etc/securetty": "securetty",
            "etc/modprobe.conf": "modules", "run": "dirs",
            "etc/sysconfig/network": "identity", "etc/hosts": "identity",
            "etc/ssh/ssh_host_key": "identity", "etc/ssh/ssh_host_key.pub": "identity",
            "etc/ssh/ssh_host_rsa_key": "identity", "etc/ssh/ssh_host_rsa_key.pub": "identity",
            "etc/ssh/ssh_host_dsa_key": "identity", "etc/ssh/ssh_host_dsa_key.pub": "identity",
            "etc/sysconfig/network-scripts/ifcfg-eth0": "network", "etc/resolv.conf": "network",
            "etc/shadow": "accounts", "root/.ssh": "accounts", "root/.ssh/authorized_keys": "accounts",
            "boot/grub/grub.conf": "bootloader",
            "etc/rc.d/init.d": "firstboot", "etc/rc.d/init.d/domufs-firstboot": "firstboot",
            "etc/rc.d/rc2.d": "firstboot", "etc/rc.d/rc2.d/S01domufs-firstboot": "firstboot",
            "etc/rc.d/rc3.d": "firstboot", "etc/rc.d/rc3.d/S01domufs-firstboot": "firstboot",
            "etc/rc.d/rc4.d": "firstboot", "etc/rc.d/rc4.d/S01domufs-firstboot": "firstboot",
            "etc/rc.d/rc5.d": "firstboot", "etc/rc.d/rc5.d/S01domufs-firstboot": "firstboot",
            "usr/lib": "firstboot", "usr/lib/domufs": "firstboot", FB_SCRIPT: "firstboot",
        },
    ),
    "alpine": dict(
        recipe="alpine.recipe", profile="birnam.cfg",
        files={
            "etc/fstab": ("/dev/cdrom\t/media/cdrom\tiso9660\tnoauto,ro 0 0\n"
                          "/dev/usbdisk\t/media/usb\tvfat\tnoauto\t0 0\n"
                          "/dev/xvda\t/\text4\terrors=remount-ro\t0\t1\n"
                          "proc\t/proc\tproc\tdefaults\t0\t0\n" + FSTAB_TAIL),
            "etc/inittab": (
                "# /etc/inittab\n"
                "\n"
                "::sysinit:/sbin/openrc sysinit\n"
                "::sysinit:/sbin/openrc boot\n"
                "::wait:/sbin/openrc default\n"
                "\n"
                "# Set up a couple of getty's\n"
                "#tty1::respawn:/sbin/getty 38400 tty1\n"
                "#tty2::respawn:/sbin/getty 38400 tty2\n"
                "\n"
                "# Put a getty on the serial port\n"
                "#ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100\n"
                "\n"
                "# Stuff to do before rebooting\n"
                "::shutdown:/sbin/openrc shutdown\n"
                "hvc0::respawn:/sbin/getty -L hvc0 115200 vt100\n"),
            "etc/securetty": "console\ntty1\ntty2\nttyS0\nhvc0\n",
            "etc/hostname": "birnam\n",
            "etc/hosts": ("127.0.0.1\tlocalhost localhost.localdomain\n"
                          "127.0.1.1\tbirnam\n"
                          "::1\t\tlocalhost localhost.localdomain\n"),
            "etc/network/interfaces": ("auto lo\n"
                                       "iface lo inet loopback\n"
                                       "\n"
                                       "# domufs: vif 0, 00:16:3e:00:0b:0a\n"
                                       "auto eth0\n"
                                       "iface eth0 inet dhcp\n"),
            "etc/shadow": f"root:{HASH_ALP}:19000:0:::::\ndaemon:!::0:::::\n",
            "etc/modprobe.d/domufs-xen.conf": MODPROBE_D,
            "root/.ssh/authorized_keys": KEY_FLEANCE + "\n",
            "etc/init.d/domufs-firstboot": FB_OPENRC,
        },
        created={"etc/modprobe.d/domufs-xen.conf": 0o644, "root/.ssh/authorized_keys": 0o600,
                 "etc/init.d/domufs-firstboot": 0o755, FB_SCRIPT: 0o755},
        dirs={"root/.ssh": 0o700, "dev/pts": 0o755, "usr/lib": 0o755, "usr/lib/domufs": 0o755},
        symlinks={"etc/runlevels/default/domufs-firstboot": "/etc/init.d/domufs-firstboot"},
        nodes={"dev/xvda": (stat.S_IFBLK, 202, 0, 0o660, 6),
               "dev/hvc0": (stat.S_IFCHR, 229, 0, 0o620, 5),
               "dev/console": (stat.S_IFCHR, 5, 1, 0o600, 0),
               "dev/null": (stat.S_IFCHR, 1, 3, 0o666, 0)},
        hidden=[],
        kept=["etc/passwd", "etc/alpine-release", "etc/os-release", "bin/busybox",
              "boot/extlinux.conf"],
        owners={"etc/shadow": (0o640, 0, 42), "etc/inittab": (0o644, 0, 0)},
        # no nameservers in the profile, no PyGRUB, one whole disk
        absent=["etc/resolv.conf", "boot/grub", "etc/initramfs-tools", "dev/xvda1", "dev/xvc0"],
        labels={
            "etc/fstab": "fstab", "etc/inittab": "console", "etc/securetty": "securetty",
            "etc/modprobe.d/domufs-xen.conf": "modules",
            "dev/pts": "dirs", "dev/xvda": "dirs", "dev/hvc0": "dirs", "dev/console": "dirs",
            "dev/null": "dirs",
            "etc/hostname": "identity", "etc/hosts": "identity",
            "etc/network/interfaces": "network",
            "etc/shadow": "accounts", "root/.ssh": "accounts", "root/.ssh/authorized_keys": "accounts",
            "etc/init.d/domufs-firstboot": "firstboot", "etc/runlevels/default/domufs-firstboot": "firstboot",
            "usr/lib": "firstboot", "usr/lib/domufs": "firstboot", FB_SCRIPT: "firstboot",
        },
    ),
}
NAMES = sorted(EXPECT)


def added_paths(e) -> dict:
    """path -> kind of everything the fixups add to the tree."""
    out = {p: "file" for p in e["created"]}
    out.update({p: "dir" for p in e["dirs"]})
    out.update({p: "symlink" for p in e["symlinks"]})
    out.update({p: "node" for p in e["nodes"]})
    return out


# --------------------------------------------------------------------------
# templates and their contents

class Template:
    """A template built from a recipe, and what it holds (the oracle for
    files the fixups leave alone)."""

    def __init__(self, path: Path):
        self.path = path
        self.members = {}
        self.data = {}
        with tarfile.open(fileobj=io.BytesIO(F.decompressed(path)), mode="r:") as t:
            for ti in t.getmembers():
                name = ti.name[2:] if ti.name.startswith("./") else ti.name
                name = name.rstrip("/")
                if name in (".", ""):
                    continue
                self.members[name] = ti
                if ti.isreg():
                    self.data[name] = t.extractfile(ti).read()

    def children(self, d: str) -> set:
        pre = "" if d == "" else d + "/"
        return {n[len(pre):] for n in self.members
                if n.startswith(pre) and "/" not in n[len(pre):]}


@pytest.fixture(scope="session")
def templates(tmp_path_factory):
    """name -> Template, each built once per session by scripts/mktemplate."""
    out_dir = tmp_path_factory.mktemp("distro-templates")
    cache = {}

    def get(name) -> Template:
        if name not in cache:
            out = out_dir / f"{name}.tar.zst"
            cache[name] = Template(F.mktemplate(DISTROS / EXPECT[name]["recipe"], out))
        return cache[name]
    return get


def profile(name_or_file: str) -> Path:
    p = DISTROS / (name_or_file if name_or_file.endswith(".cfg") else EXPECT[name_or_file]["profile"])
    assert p.is_file(), p
    return p


# --------------------------------------------------------------------------
# helpers

def mount(domufs, tpl, prof, overlay=None, cache_dir=None, extra=()):
    extra = ["--domain", str(prof), *extra]
    if overlay is not None:
        extra += ["--overlay", str(overlay)]
    return domufs.mount(tpl.path if isinstance(tpl, Template) else tpl, extra=extra, cache_dir=cache_dir)


def unmount(m):
    problems = m.unmount()
    assert not problems, "\n".join(problems)


def read_bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path, data: bytes):
    """Rewrite a file in place (O_TRUNC), as an editor saving it would."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def append_bytes(path, data: bytes):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        assert os.write(fd, data) == len(data)
    finally:
        os.close(fd)


def read_checked(root: Path, rel: str) -> bytes:
    """The file's content, checked to be the same whole, in 7-byte pieces and
    at every offset, with stat's and readdir's sizes equal to its length."""
    p = root / rel
    data = read_bytes(p)
    st = os.stat(p)
    assert st.st_size == len(data), f"{rel}: st_size {st.st_size} but {len(data)} bytes read"
    with os.scandir(p.parent) as it:
        ent = [e for e in it if e.name == p.name]
    assert len(ent) == 1, f"{rel} is not in its directory's listing"
    assert ent[0].stat(follow_symlinks=False).st_size == len(data), \
        f"{rel}: size from the listing {ent[0].stat(follow_symlinks=False).st_size} != {len(data)}"
    fd = os.open(p, os.O_RDONLY)
    try:
        pieces = []
        while True:
            b = os.read(fd, 7)
            if not b:
                break
            pieces.append(b)
        assert b"".join(pieces) == data, f"{rel}: reading in 7-byte pieces gives other bytes"
        for off in (0, 1, len(data) // 2, max(0, len(data) - 1), len(data), len(data) + 10):
            assert os.pread(fd, 4096, off) == data[off:off + 4096], f"{rel}: pread at {off}"
    finally:
        os.close(fd)
    return data


def show(b: bytes) -> str:
    return b.decode(errors="replace")


def assert_content(root: Path, rel: str, want: str):
    got = read_checked(root, rel)
    assert got == want.encode(), (f"{rel} in the view:\n--- got\n{show(got)}--- want\n{want}---")


def lines(b) -> list:
    return (b.decode() if isinstance(b, bytes) else b).splitlines()


# --------------------------------------------------------------------------
# the view of each distribution

@pytest.mark.parametrize("name", NAMES)
def test_fixed_files_read_with_their_fixed_content_and_size(name, domufs, templates):
    e = EXPECT[name]
    m = mount(domufs, templates(name), profile(name))
    for rel, want in sorted(e["files"].items()):
        assert_content(m.path, rel, want)
    err = m.stderr()
    assert err.strip() == "", f"daemon stderr for a good profile:\n{err}"


@pytest.mark.parametrize("name", NAMES)
def test_untouched_files_read_as_in_the_template(name, domufs, templates):
    e = EXPECT[name]
    tpl = templates(name)
    m = mount(domufs, tpl, profile(name))
    for rel in e["kept"]:
        assert rel in tpl.data, f"{rel} is not a file of {e['recipe']}"
        assert read_checked(m.path, rel) == tpl.data[rel], f"{rel} changed, but no fixup is about it"
        st = os.lstat(m.path / rel)
        ti = tpl.members[rel]
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (ti.mode, ti.uid, ti.gid), rel


@pytest.mark.parametrize("name", NAMES)
def test_listings_hide_and_add_the_right_names(name, domufs, templates):
    e = EXPECT[name]
    tpl = templates(name)
    added = added_paths(e)
    for rel in e["hidden"]:
        assert rel in tpl.members, f"{rel}: the recipe should have it, for the fixup to hide"
    for rel in added:
        assert rel not in tpl.members, f"{rel}: the recipe should not have it, for the fixup to add"
    m = mount(domufs, tpl, profile(name))

    # every directory whose entries change: template names - hidden + added
    dirs = {os.path.dirname(p) for p in list(added) + e["hidden"]} | set(e["dirs"])
    for d in sorted(dirs):
        want = (tpl.children(d) - {os.path.basename(h) for h in e["hidden"] if os.path.dirname(h) == d}) \
            | {os.path.basename(a) for a in added if os.path.dirname(a) == d}
        got = set(os.listdir(m.path / d))
        assert got == want, (f"listing of /{d}: missing {sorted(want - got)}, "
                             f"unexpected {sorted(got - want)}")
    for rel in e["hidden"]:
        for fn in (os.lstat, os.stat):
            with pytest.raises(FileNotFoundError):
                fn(m.path / rel)
        with pytest.raises(FileNotFoundError):
            open(m.path / rel, "rb")
    for rel in e["absent"]:
        assert not os.path.lexists(m.path / rel), f"/{rel} should not exist in the {name} view"


@pytest.mark.parametrize("name", NAMES)
def test_added_entries_have_their_types_modes_and_owners(name, domufs, templates):
    e = EXPECT[name]
    m = mount(domufs, templates(name), profile(name))
    for rel, mode in e["created"].items():
        st = os.lstat(m.path / rel)
        assert stat.S_ISREG(st.st_mode), f"{rel} is not a regular file"
        assert (oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid) == (oct(mode), 0, 0), rel
    for rel, mode in e["dirs"].items():
        st = os.lstat(m.path / rel)
        assert stat.S_ISDIR(st.st_mode), f"{rel} is not a directory"
        assert (oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid) == (oct(mode), 0, 0), rel
    for rel, target in e["symlinks"].items():
        st = os.lstat(m.path / rel)
        assert stat.S_ISLNK(st.st_mode), f"{rel} is not a symlink"
        assert os.readlink(m.path / rel) == target
        assert st.st_size == len(target), f"{rel}: symlink st_size {st.st_size} != {len(target)}"
    for rel, (kind, major, minor, mode, gid) in e["nodes"].items():
        st = os.lstat(m.path / rel)
        assert stat.S_IFMT(st.st_mode) == kind, f"{rel}: wrong type {oct(st.st_mode)}"
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor), rel
        assert (oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid) == (oct(mode), 0, gid), rel
    # edited files keep the template's mode and owner
    for rel, (mode, uid, gid) in e["owners"].items():
        st = os.lstat(m.path / rel)
        assert (oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid) == (oct(mode), uid, gid), \
            f"{rel}: the fixup changed its mode or owner"


@pytest.mark.parametrize("name", NAMES)
def test_directory_link_counts_include_added_subdirectories(name, domufs, templates):
    """A directory's st_nlink is 2 + its subdirectories, as for the template's
    own directories (or 1, 'unknown', which the fidelity tests accept too);
    the committed image counts the added subdirectories (e2fsck checks it),
    so the mount should agree with it."""
    e = EXPECT[name]
    m = mount(domufs, templates(name), profile(name))
    parents = {os.path.dirname(d) for d in e["dirs"]}
    bad = []
    for d in sorted(parents):
        p = m.path / d
        subdirs = sum(1 for x in os.scandir(p) if x.is_dir(follow_symlinks=False))
        nlink = os.lstat(p).st_nlink
        if nlink not in (1, 2 + subdirs):
            bad.append(f"/{d}: st_nlink {nlink}, but it has {subdirs} subdirectories")
    assert not bad, "\n".join(bad)


def test_systemd_serial_getty_is_enabled_by_a_symlink_that_resolves(domufs, templates):
    m = mount(domufs, templates("debian12"), profile("debian12"))
    link = m.path / "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service"
    assert os.readlink(link) == "/lib/systemd/system/serial-getty@.service"
    # resolved inside the guest's tree (/lib -> usr/lib): the unit is there
    unit = m.path / "usr/lib/systemd/system/serial-getty@.service"
    assert (m.path / "lib").is_symlink() and os.readlink(m.path / "lib") == "usr/lib"
    assert unit.is_file()
    # the template's own getty on tty1 is left alone
    assert os.readlink(m.path / "etc/systemd/system/getty.target.wants/getty@tty1.service") == \
        "/lib/systemd/system/getty@.service"
    # and the distribution's init is still systemd
    assert os.readlink(m.path / "usr/sbin/init") == "../lib/systemd/systemd"


def test_root_ssh_directory_and_authorized_keys_are_private(domufs, templates):
    for name in ("debian12", "centos5"):
        m = mount(domufs, templates(name), profile(name))
        home = os.lstat(m.path / "root")
        assert home.st_uid == 0
        ssh = os.lstat(m.path / "root/.ssh")
        keys = os.lstat(m.path / "root/.ssh/authorized_keys")
        assert stat.S_ISDIR(ssh.st_mode) and stat.S_IMODE(ssh.st_mode) == 0o700, oct(ssh.st_mode)
        assert stat.S_ISREG(keys.st_mode) and stat.S_IMODE(keys.st_mode) == 0o600, oct(keys.st_mode)
        assert (ssh.st_uid, ssh.st_gid, keys.st_uid, keys.st_gid) == (0, 0, 0, 0)
        # every key on its own line, with its options, never joined
        for line in lines(read_checked(m.path, "root/.ssh/authorized_keys")):
            assert line.count("ssh-ed25519") == 1, line
        unmount(m)


def test_fixups_minus_udev_keeps_the_persistent_net_rules(domufs, templates):
    tpl = templates("debian12")
    rule = "etc/udev/rules.d/70-persistent-net.rules"
    m = mount(domufs, tpl, profile("bookworm-noudev.cfg"))
    assert "70-persistent-net.rules" in os.listdir(m.path / "etc/udev/rules.d")
    assert read_checked(m.path, rule) == tpl.data[rule]
    # the other fixups still apply
    assert lines(read_checked(m.path, "etc/fstab"))[1] == "/dev/xvda\t/\text4\terrors=remount-ro\t0\t1"
    assert read_checked(m.path, "etc/hostname") == b"fleance.example.org\n"
    assert os.path.islink(m.path / "etc/systemd/system/getty.target.wants/serial-getty@hvc0.service")
    assert not os.path.lexists(m.path / "etc/ssh/ssh_host_rsa_key")
    assert (m.path / "boot/grub/grub.cfg").is_file()
    unmount(m)
    # and the diff names no udev hunk, but the others
    r = domufs.run("diff", "--domain", profile("bookworm-noudev.cfg"), tpl.path)
    assert r.returncode == 0, str(r)
    labels = diff_labels(r.stdout)
    assert rule not in labels and "udev" not in {x for v in labels.values() for x in v}, r.stdout
    assert labels.get("etc/fstab") == {"fstab"}, labels


def test_fixups_none_shows_the_template_unchanged(domufs, templates):
    tpl = templates("debian12")
    m = mount(domufs, tpl, profile("bookworm-none.cfg"))
    for rel in ("etc/fstab", "etc/hostname", "etc/hosts", "etc/machine-id", "etc/shadow",
                "etc/network/interfaces", "etc/udev/rules.d/70-persistent-net.rules",
                "etc/ssh/ssh_host_rsa_key"):
        assert read_checked(m.path, rel) == tpl.data[rel], rel
    assert not os.path.lexists(m.path / "boot/grub")
    assert not os.path.lexists(m.path / "root/.ssh")
    unmount(m)
    r = domufs.run("diff", "--domain", profile("bookworm-none.cfg"), tpl.path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), str(r)


# --------------------------------------------------------------------------
# writes through an overlay mount: the fixups stay applied, once

@pytest.mark.parametrize("name", NAMES)
def test_writing_fixed_files_back_unchanged_changes_nothing(name, domufs, templates, tmp_path):
    e = EXPECT[name]
    tpl = templates(name)
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    files = sorted(e["files"])
    for rnd in range(2):
        m = mount(domufs, tpl, profile(name), overlay=ovl)
        for rel in files:
            data = read_checked(m.path, rel)
            assert data == e["files"][rel].encode(), f"round {rnd}: {rel} before writing back"
            write_bytes(m.path / rel, data)
            assert read_checked(m.path, rel) == data, f"round {rnd}: {rel} right after writing it back"
        unmount(m)
        for rel in files:
            up = ovl / rel
            assert up.is_file(), f"the write to /{rel} did not land in the overlay"
            assert read_bytes(up) == e["files"][rel].encode(), f"overlay copy of /{rel}"
    m = mount(domufs, tpl, profile(name), overlay=ovl)
    for rel in files:
        assert_content(m.path, rel, e["files"][rel])
    for rel, (mode, uid, gid) in e["owners"].items():
        st = os.lstat(m.path / rel)
        assert (oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid) == (oct(mode), uid, gid), rel
    for rel, mode in e["created"].items():
        assert oct(stat.S_IMODE(os.lstat(m.path / rel).st_mode)) == oct(mode), rel


# (path, appended text, the content after a remount, or a check function)
APPENDS = {
    "debian4": [
        ("etc/inittab", "3:23:respawn:/sbin/getty 38400 tty3\n",
         EXPECT["debian4"]["files"]["etc/inittab"] + "#3:23:respawn:/sbin/getty 38400 tty3\n"),
        ("etc/securetty", "ttyS0\n", EXPECT["debian4"]["files"]["etc/securetty"] + "ttyS0\n"),
        ("etc/default/ssh", 'SSHD_OPTS="-u0"\n',
         EXPECT["debian4"]["files"]["etc/default/ssh"] + 'SSHD_OPTS="-u0"\n'),
        ("etc/fstab", "/dev/xvdb\t/srv\text3\tdefaults\t0\t2\n",
         EXPECT["debian4"]["files"]["etc/fstab"] + "/dev/xvdb\t/srv\text3\tdefaults\t0\t2\n"),
    ],
    "debian12": [
        ("etc/fstab", "tmpfs\t/tmp\ttmpfs\tdefaults\t0\t0\n",
         EXPECT["debian12"]["files"]["etc/fstab"] + "tmpfs\t/tmp\ttmpfs\tdefaults\t0\t0\n"),
        ("etc/hosts", "192.0.2.99\tbackup.example.org backup\n",
         EXPECT["debian12"]["files"]["etc/hosts"] + "192.0.2.99\tbackup.example.org backup\n"),
        ("root/.ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9vZ2xlZ29vZ2xl third@example\n",
         EXPECT["debian12"]["files"]["root/.ssh/authorized_keys"] +
         "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9vZ2xlZ29vZ2xl third@example\n"),
        # a stanza of the admin's own: kept, before the domain's vif, which stays once
        ("etc/network/interfaces", "auto br0\niface br0 inet manual\n",
         "# interfaces(5) file used by ifup(8) and ifdown(8)\n"
         "source /etc/network/interfaces.d/*\n"
         "\n"
         "auto lo\n"
         "iface lo inet loopback\n"
         "\n"
         "auto br0\n"
         "iface br0 inet manual\n"
         "\n"
         "# domufs: vif 0, 00:16:3e:00:12:01\n"
         "allow-hotplug enX0\n"
         "iface enX0 inet static\n"
         "\taddress 192.0.2.12\n"
         "\tnetmask 255.255.255.128\n"
         "\tgateway 192.0.2.1\n"
         "\tdns-nameservers 192.0.2.53 192.0.2.54\n"),
        # the profile's servers replace the template's, after the admin's lines
        ("etc/resolv.conf", "options edns0\n",
         "domain example.net\noptions edns0\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"),
    ],
    "centos5": [
        ("etc/modprobe.conf", "alias eth1 e1000\n",
         EXPECT["centos5"]["files"]["etc/modprobe.conf"] + "alias eth1 e1000\n"),
        ("etc/sysconfig/network-scripts/ifcfg-eth0", "MTU=9000\n",
         EXPECT["centos5"]["files"]["etc/sysconfig/network-scripts/ifcfg-eth0"] + "MTU=9000\n"),
        ("etc/sysconfig/network", "GATEWAYDEV=eth0\n",
         EXPECT["centos5"]["files"]["etc/sysconfig/network"] + "GATEWAYDEV=eth0\n"),
        ("etc/inittab", "3:2345:respawn:/sbin/mingetty tty3\n",
         EXPECT["centos5"]["files"]["etc/inittab"] + "#3:2345:respawn:/sbin/mingetty tty3\n"),
    ],
    "alpine": [
        ("etc/inittab", "tty3::respawn:/sbin/getty 38400 tty3\n",
         EXPECT["alpine"]["files"]["etc/inittab"] + "#tty3::respawn:/sbin/getty 38400 tty3\n"),
        ("etc/fstab", "/dev/xvdb\t/srv\text4\tdefaults\t0\t2\n",
         EXPECT["alpine"]["files"]["etc/fstab"] + "/dev/xvdb\t/srv\text4\tdefaults\t0\t2\n"),
        ("etc/securetty", "hvc1\n", EXPECT["alpine"]["files"]["etc/securetty"] + "hvc1\n"),
    ],
}


@pytest.mark.parametrize("name", NAMES)
def test_an_appended_line_stays_once_and_the_fix_still_applies(name, domufs, templates, tmp_path):
    e = EXPECT[name]
    tpl = templates(name)
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    m = mount(domufs, tpl, profile(name), overlay=ovl)
    for rel, text, _ in APPENDS[name]:
        append_bytes(m.path / rel, text.encode())
    unmount(m)
    for rnd in range(2):
        m = mount(domufs, tpl, profile(name), overlay=ovl)
        for rel, text, want in APPENDS[name]:
            got = read_checked(m.path, rel).decode()
            assert got == want, f"round {rnd}: /{rel} after appending {text!r}:\n--- got\n{got}--- want\n{want}---"
            # nothing the fixup wrote is doubled
            fixed = e["files"][rel]
            for line in set(lines(fixed)):
                if line.strip():
                    assert got.splitlines().count(line) <= max(1, lines(fixed).count(line)), \
                        f"/{rel}: {line!r} doubled:\n{got}"
            # write it back as read: still the same after the next remount
            write_bytes(m.path / rel, got.encode())
        unmount(m)


# --------------------------------------------------------------------------
# the view follows the overlay

def test_identity_keeps_the_profile_hostname_over_an_edited_hostname(domufs, templates, tmp_path):
    tpl = templates("debian12")
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    m = mount(domufs, tpl, profile("debian12"), overlay=ovl)
    write_bytes(m.path / "etc/hostname", b"otherhost\n")
    assert read_checked(m.path, "etc/hostname") == b"fleance.example.org\n"
    # /etc/hosts rewritten whole: the profile's line goes after 127.0.0.1, once
    write_bytes(m.path / "etc/hosts", b"127.0.0.1 localhost\n127.0.1.1 otherhost\n10.1.1.1 gw\n")
    want_hosts = b"127.0.0.1 localhost\n127.0.1.1\tfleance.example.org fleance\n10.1.1.1 gw\n"
    assert read_checked(m.path, "etc/hosts") == want_hosts
    unmount(m)
    assert (ovl / "etc/hostname").is_file(), "the write did not reach the overlay"
    m = mount(domufs, tpl, profile("debian12"), overlay=ovl)
    assert read_checked(m.path, "etc/hostname") == b"fleance.example.org\n"
    assert read_checked(m.path, "etc/hosts") == want_hosts


def test_sysconfig_network_follows_the_overlay_with_the_profile_hostname(domufs, templates, tmp_path):
    tpl = templates("centos5")
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    m = mount(domufs, tpl, profile("centos5"), overlay=ovl)
    write_bytes(m.path / "etc/sysconfig/network", b"NETWORKING=no\nHOSTNAME=x\nNOZEROCONF=yes\n")
    want = b"NETWORKING=yes\nHOSTNAME=inverness.example.org\nNOZEROCONF=yes\n"
    assert read_checked(m.path, "etc/sysconfig/network") == want
    unmount(m)
    m = mount(domufs, tpl, profile("centos5"), overlay=ovl)
    assert read_checked(m.path, "etc/sysconfig/network") == want


def test_interfaces_rewritten_in_the_overlay_keep_the_fixed_stanza_once(domufs, templates, tmp_path):
    tpl = templates("debian12")
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    block = ("# domufs: vif 0, 00:16:3e:00:12:01\n"
             "allow-hotplug enX0\n"
             "iface enX0 inet static\n"
             "\taddress 192.0.2.12\n"
             "\tnetmask 255.255.255.128\n"
             "\tgateway 192.0.2.1\n"
             "\tdns-nameservers 192.0.2.53 192.0.2.54\n")
    m = mount(domufs, tpl, profile("debian12"), overlay=ovl)
    # stale stanzas for vif names (eth0, eth1) go; the domain's stanza comes once
    write_bytes(m.path / "etc/network/interfaces",
                b"auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n\n"
                b"auto eth1\niface eth1 inet dhcp\n")
    want = "auto lo\niface lo inet loopback\n\n" + block
    assert read_checked(m.path, "etc/network/interfaces") == want.encode()
    unmount(m)
    # the overlay edited behind the daemon's back, while unmounted
    (ovl / "etc/network/interfaces").write_text(
        "# edited by hand\nauto lo\niface lo inet loopback\n\n" + block + "\n" + block)
    m = mount(domufs, tpl, profile("debian12"), overlay=ovl)
    got = read_checked(m.path, "etc/network/interfaces").decode()
    assert got == "# edited by hand\nauto lo\niface lo inet loopback\n\n" + block, got


def test_fstab_written_into_the_overlay_directory_is_fixed_in_the_view(domufs, templates, tmp_path):
    tpl = templates("debian12")
    ovl = tmp_path / "overlay"
    (ovl / "etc").mkdir(parents=True)
    (ovl / "etc/fstab").write_text("/dev/sdb1 / xfs defaults 0 0\n/dev/sdb2 /home xfs defaults 0 2\n")
    m = mount(domufs, tpl, profile("debian12"), overlay=ovl)
    assert read_checked(m.path, "etc/fstab") == (
        "/dev/xvda\t/\text4\terrors=remount-ro\t0\t1\n"
        + FSTAB_OFF + "/dev/sdb2 /home xfs defaults 0 2\n"
        "proc\t/proc\tproc\tdefaults\t0\t0\n" + FSTAB_TAIL).encode()


def test_fstab_lines_of_the_template_machines_other_disks_are_disabled(domufs, templates, tmp_path):
    """The commit writes one filesystem: /boot, /home and swap on the
    template machine's disks would send the domU into emergency mode. The
    domain's own disks (xvdb), virtual filesystems and noauto lines stay."""
    tpl = templates("debian12")
    ovl = tmp_path / "overlay"
    (ovl / "etc").mkdir(parents=True)
    (ovl / "etc/fstab").write_text(
        "UUID=0a1b2c3d-0000-4000-8000-000000000001 / ext4 errors=remount-ro 0 1\n"
        "UUID=0a1b2c3d-0000-4000-8000-000000000002 /boot ext2 defaults 0 2\n"
        "/dev/sda2 none swap sw 0 0\n"
        "/dev/sda3 /home ext3 defaults 0 2\n"
        "LABEL=SWAP-sda2 swap swap defaults 0 0\n"
        "/dev/sr0 /media/cdrom udf,iso9660 user,noauto 0 0\n"
        "/dev/xvdb /srv ext4 defaults 0 2\n"
        "tmpfs /tmp tmpfs defaults 0 0\n")
    want = ("/dev/xvda\t/\text4\terrors=remount-ro\t0\t1\n"
            + FSTAB_OFF + "UUID=0a1b2c3d-0000-4000-8000-000000000002 /boot ext2 defaults 0 2\n"
            + FSTAB_OFF + "/dev/sda2 none swap sw 0 0\n"
            + FSTAB_OFF + "/dev/sda3 /home ext3 defaults 0 2\n"
            + FSTAB_OFF + "LABEL=SWAP-sda2 swap swap defaults 0 0\n"
            "/dev/sr0 /media/cdrom udf,iso9660 user,noauto 0 0\n"
            "/dev/xvdb /srv ext4 defaults 0 2\n"
            "tmpfs /tmp tmpfs defaults 0 0\n"
            "proc\t/proc\tproc\tdefaults\t0\t0\n" + FSTAB_TAIL)
    m = mount(domufs, tpl, profile("debian12"), overlay=ovl)
    assert read_checked(m.path, "etc/fstab").decode() == want
    # written back as read: the next mount changes nothing further
    write_bytes(m.path / "etc/fstab", want.encode())
    unmount(m)
    m = mount(domufs, tpl, profile("debian12"), overlay=ovl)
    assert read_checked(m.path, "etc/fstab").decode() == want
    unmount(m)
    r = domufs.run("diff", "--domain", profile("debian12"), "--overlay", ovl, tpl.path)
    assert r.returncode == 0, str(r)
    # written through the mount, then fixed up: both changed it
    assert diff_labels(r.stdout).get("etc/fstab") == {"overlay+fstab"}, r.stdout
    section = r.stdout.split("diff --domufs a/etc/fstab b/etc/fstab\n", 1)[1]
    assert "+# domufs: disabled, a disk the domU does not have:\n+#/dev/sda3 /home" in section, section


def test_a_fixed_file_deleted_through_the_mount_stays_deleted(domufs, templates, tmp_path):
    tpl = templates("debian4")
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    m = mount(domufs, tpl, profile("debian4"), overlay=ovl)
    os.unlink(m.path / "etc/securetty")
    assert "securetty" not in os.listdir(m.path / "etc")
    unmount(m)
    m = mount(domufs, tpl, profile("debian4"), overlay=ovl)
    assert not os.path.lexists(m.path / "etc/securetty")
    assert "securetty" not in os.listdir(m.path / "etc")
    unmount(m)
    r = domufs.run("diff", "--domain", profile("debian4"), "--overlay", ovl, tpl.path)
    assert r.returncode == 0, str(r)
    assert diff_labels(r.stdout).get("etc/securetty") == {"overlay"}, r.stdout


def test_a_hidden_file_written_again_through_the_mount_shows(domufs, templates, tmp_path):
    """fix.h, FIX_HIDE: 'If the file is written again through the mount, the
    overlay's copy shows' (ssh-keygen in a chroot, an admin's own rules)."""
    tpl = templates("debian12")
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    m = mount(domufs, tpl, profile("debian12"), overlay=ovl)
    new = {"etc/udev/rules.d/70-persistent-net.rules": b"# mine\n",
           "etc/ssh/ssh_host_ed25519_key": b"NEW PRIVATE ED25519\n"}   # ssh-keygen -A in a chroot
    problems = []
    for rel, data in new.items():
        try:
            with open(m.path / rel, "wb") as f:      # O_CREAT|O_TRUNC on a hidden name
                f.write(data)
        except OSError as ex:
            problems.append(f"creating /{rel} through the mount: {ex!r}")
            continue
        if read_checked(m.path, rel) != data:
            problems.append(f"/{rel} does not read as written")
        if os.path.basename(rel) not in os.listdir(m.path / os.path.dirname(rel)):
            problems.append(f"/{rel} is not listed after being written")
        if not (ovl / rel).is_file():
            problems.append(f"/{rel} is not in the overlay")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# domufs diff

def diff_labels(text: str) -> dict:
    """path -> set of labels: '@@ ... @@ LABEL' hunks and '# LABEL' lines of
    entries without content hunks (directories, devices)."""
    out = {}
    cur = None
    for line in text.splitlines():
        mt = re.match(r"^diff --domufs a/(.*) b/(.*)$", line)
        if mt:
            cur = mt.group(2)
            out.setdefault(cur, set())
            continue
        mt = re.match(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?(.*)$", line)
        if mt and cur is not None:
            out[cur].add(mt.group(1).strip())
            continue
        mt = re.match(r"^# (\S+)$", line)
        if mt and cur is not None:
            out[cur].add(mt.group(1))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_diff_labels_each_change_with_its_fixup(name, domufs, templates):
    e = EXPECT[name]
    tpl = templates(name)
    r = domufs.run("diff", "--domain", profile(name), tpl.path)
    assert r.returncode == 0, str(r)
    assert r.stderr == "", str(r)
    labels = diff_labels(r.stdout)
    want = {p: {rule} for p, rule in e["labels"].items()}
    missing = sorted(set(want) - set(labels))
    extra = sorted(set(labels) - set(want))
    wrong = sorted(f"{p}: {sorted(labels[p])} != {sorted(want[p])}"
                   for p in set(want) & set(labels) if labels[p] != want[p])
    assert not (missing or extra or wrong), \
        f"missing {missing}\nunexpected {extra}\nwrong labels {wrong}\n{r.stdout}"
    # every changed file, hidden entry and added entry is accounted for
    assert set(e["files"]) | set(e["hidden"]) | set(added_paths(e)) <= set(want)
    # content hunks carry the fixed content
    for rel in ("etc/fstab", "etc/shadow"):
        section = r.stdout.split(f"diff --domufs a/{rel} b/{rel}\n", 1)[1].split("\ndiff --domufs ", 1)[0]
        plus = [x[1:] for x in section.splitlines() if x.startswith("+") and not x.startswith("+++")]
        for line in plus:
            assert line in lines(e["files"][rel]), f"/{rel}: diff adds {line!r}, not in the view"


def test_diff_exit_status_without_changes_and_with_overlay_changes(domufs, templates, tmp_path):
    tpl = templates("debian12")
    for extra in ((), ("--exit-code",)):
        r = domufs.run("diff", *extra, tpl.path)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), str(r)
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    r = domufs.run("diff", "--overlay", ovl, "--exit-code", tpl.path)
    assert (r.returncode, r.stdout) == (0, ""), str(r)
    m = mount(domufs, tpl, profile("debian12"), overlay=ovl)
    (m.path / "etc/motd").write_bytes(b"Welcome to fleance.\n")
    with open(m.path / "etc/hosts", "a") as f:      # a file the fixups rewrite
        f.write("192.0.2.99 backup.example.org\n")
    unmount(m)
    # changes are a success; --exit-code tells them, as diff(1)
    r = domufs.run("diff", "--overlay", ovl, tpl.path)
    assert r.returncode == 0, str(r)
    assert diff_labels(r.stdout) == {"etc/motd": {"overlay"}, "etc/hosts": {"overlay"}}, r.stdout
    r = domufs.run("diff", "--domain", profile("debian12"), "--overlay", ovl, "--exit-code", tpl.path)
    assert r.returncode == 1, str(r)
    labels = diff_labels(r.stdout)
    assert labels.get("etc/motd") == {"overlay"}, r.stdout
    assert labels.get("etc/fstab") == {"fstab"}, r.stdout
    # the user's line and the fixup's both in one hunk, credited to both
    assert labels.get("etc/hosts") == {"overlay+identity"}, r.stdout
    assert "+Welcome to fleance." in r.stdout.splitlines()
    assert "+192.0.2.99 backup.example.org" in r.stdout.splitlines()


# --------------------------------------------------------------------------
# domufs commit

def extract_partition(img: Path, out: Path) -> Path:
    """The filesystem of an msdos-partitioned image (dd bs=1M skip=1)."""
    sh("dd", f"if={img}", f"of={out}", "bs=1M", "skip=1", "status=none")
    return out


def pygrub(img: Path, outdir: Path):
    if not os.access(PYGRUB, os.X_OK):
        pytest.skip(f"{PYGRUB} is not installed (xen-utils-4.17)")
    r = sh(PYGRUB, "-q", "-n", "--output-format=simple", img, check=False)
    assert r.returncode == 0, f"pygrub -n: {r.stderr}"
    simple = dict(x.split(" ", 1) for x in r.stdout.splitlines() if " " in x)
    outdir.mkdir()
    r2 = sh(PYGRUB, "-q", f"--output-directory={outdir}", "--output-format=simple", img, check=False)
    assert r2.returncode == 0, f"pygrub: {r2.stderr}"
    got = dict(x.split(" ", 1) for x in r2.stdout.splitlines() if " " in x)
    kernel = read_bytes(got["kernel"]) if "kernel" in got else None
    ramdisk = read_bytes(got["ramdisk"]) if "ramdisk" in got else None
    return simple.get("args"), kernel, ramdisk


def commit(domufs, tpl, prof, img, *extra, overlay=None):
    args = ["commit", "--domain", prof]
    if overlay is not None:
        args += ["--overlay", overlay]
    r = domufs.run(*args, *extra, tpl.path, img)
    assert r.returncode == 0, str(r)
    return r


@pytest.mark.parametrize("part", ["msdos", "none"])
def test_commit_debian12_boots_with_pygrub(part, domufs, templates, tmp_path):
    tpl = templates("debian12")
    img = tmp_path / "fleance.img"
    commit(domufs, tpl, profile("debian12"), img, "--partition", part)
    root = "/dev/xvda1" if part == "msdos" else "/dev/xvda"
    fs = extract_partition(img, tmp_path / "fs.img") if part == "msdos" else img
    e2fsck_clean(fs)
    fstab = debugfs_cat(fs, "/etc/fstab")
    assert fstab == EXPECT["debian12"]["files"]["etc/fstab"].replace("/dev/xvda\t", root + "\t"), fstab
    want_cfg = grub_cfg("debian, Linux 6.1.0-18-amd64", "/boot/vmlinuz-6.1.0-18-amd64",
                        "/boot/initrd.img-6.1.0-18-amd64", root, "hvc0")
    assert debugfs_cat(fs, "/boot/grub/grub.cfg") == want_cfg
    assert debugfs_cat(fs, "/etc/hostname") == "fleance.example.org\n"
    assert debugfs_cat(fs, "/etc/machine-id") == ""
    ls = sh("debugfs", "-R", "ls /etc/ssh", fs).stdout
    assert "sshd_config" in ls and "ssh_host_" not in ls, ls
    args, kernel, ramdisk = pygrub(img, tmp_path / "pygrub")
    assert args is not None and f"root={root}" in args.split() and "console=hvc0" in args.split(), args
    assert args == f"root={root} ro console=hvc0", args
    assert kernel == b"KERNEL 6.1.0-18-amd64\n"
    assert ramdisk == b"INITRD 6.1.0-18-amd64\n"


def test_commit_centos5_boots_with_pygrub_on_xvc0(domufs, templates, tmp_path):
    tpl = templates("centos5")
    img = tmp_path / "inverness.img"
    commit(domufs, tpl, profile("centos5"), img, "--partition", "msdos", "--fs", "ext3")
    fs = extract_partition(img, tmp_path / "fs.img")
    e2fsck_clean(fs)
    assert debugfs_cat(fs, "/etc/fstab").splitlines()[0] == "/dev/xvda1\t/\text3\tdefaults\t1\t1"
    assert debugfs_cat(fs, "/boot/grub/grub.conf") == menu_lst(
        "centos, Linux 2.6.18-398.el5xen", "/boot/vmlinuz-2.6.18-398.el5xen",
        "/boot/initrd-2.6.18-398.el5xen.img", "/dev/xvda1", "xvc0", hd="(hd0,0)")
    args, kernel, ramdisk = pygrub(img, tmp_path / "pygrub")
    assert args == "root=/dev/xvda1 ro console=xvc0", args
    assert kernel == b"KERNEL 2.6.18-398.el5xen\n"
    assert ramdisk == b"INITRD 2.6.18-398.el5xen\n"


@pytest.mark.parametrize("name", ["centos5", "debian4", "debian12"])
def test_commit_warns_when_the_templates_kernel_cannot_mount_ext4(name, domufs, templates,
                                                                  tmp_path):
    """PyGRUB boots the template's own kernel: a 2.6.18 one has no ext4."""
    tpl = templates(name)
    r = commit(domufs, tpl, profile(name), tmp_path / "ext4.img")
    warn = [x for x in r.stderr.splitlines() if "will not boot" in x]
    if name == "debian12":
        assert not warn, r.stderr
        return
    assert len(warn) == 1 and warn[0].startswith("domufs: warning: "), r.stderr
    assert "has no ext4" in warn[0] and "--fs ext3" in warn[0], warn
    r = commit(domufs, tpl, profile(name), tmp_path / "ext3.img", "--fs", "ext3")
    assert "will not boot" not in r.stderr, r.stderr


def test_commit_debian4_ext3_names_its_filesystem_type(domufs, templates, tmp_path):
    tpl = templates("debian4")
    img = tmp_path / "dunsinane.img"
    commit(domufs, tpl, profile("debian4"), img, "--fs", "ext3")
    e2fsck_clean(img)
    assert debugfs_cat(img, "/etc/fstab") == \
        EXPECT["debian4"]["files"]["etc/fstab"].replace("\text4\t", "\text3\t")
    args, kernel, _ = pygrub(img, tmp_path / "pygrub")
    assert args == "root=/dev/xvda ro console=xvc0", args
    assert kernel == b"KERNEL 2.6.18-6-xen-amd64\n"


class KernelMount:
    """A read-only kernel mount of an ext image (at an offset), always undone."""

    def __init__(self, img: Path, where: Path, offset=0):
        self.where = where
        where.mkdir()
        opts = "ro,loop,noload" + (f",offset={offset}" if offset else "")
        r = sh("mount", "-o", opts, img, where, check=False)
        if r.returncode != 0:
            pytest.skip(f"cannot loop-mount the image: {r.stderr.strip()}")

    def __enter__(self):
        return self.where

    def __exit__(self, *exc):
        sh("umount", self.where, check=False)


def tree_of(root: Path) -> dict:
    snap = F.snapshot(root, xattrs=False)
    keep = ("type", "mode", "uid", "gid", "size", "sha256", "target", "rdev", "mtime_ns")
    return {p: {k: d[k] for k in keep if k in d} for p, d in snap.items()
            if p != b"." and p != b"lost+found" and not p.startswith(b"lost+found/")}


@pytest.mark.parametrize("name", ["debian12", "alpine"])
def test_commit_holds_exactly_the_fixed_up_view(name, domufs, templates, tmp_path):
    """With an overlay too: the image and the mount show the same tree, entry
    by entry (types, modes, owners, sizes, contents, targets, devices, times)."""
    tpl = templates(name)
    prof = profile(name)
    ovl = tmp_path / "overlay"
    ovl.mkdir()
    m = mount(domufs, tpl, prof, overlay=ovl)
    write_bytes(m.path / "etc/hostname", b"otherhost\n")     # the fixup wins
    append_bytes(m.path / "etc/fstab", b"tmpfs\t/tmp\ttmpfs\tdefaults\t0\t0\n")
    (m.path / "etc/motd").write_bytes(b"committed\n")
    unmount(m)
    img = tmp_path / "img"
    commit(domufs, tpl, prof, img, overlay=ovl)
    e2fsck_clean(img)
    m = mount(domufs, tpl, prof, overlay=ovl)
    view = tree_of(m.path)
    with KernelMount(img, tmp_path / "kmnt") as k:
        image = tree_of(k)
    diffs = []
    for p in sorted(set(view) | set(image)):
        if view.get(p) != image.get(p):
            diffs.append(f"{p!r}: view {view.get(p)} image {image.get(p)}")
    assert not diffs, "image != view:\n" + "\n".join(diffs[:40])
    assert view[b"etc/hostname"]["sha256"] == hashlib.sha256(
        EXPECT[name]["files"]["etc/hostname"].encode()).hexdigest()


def test_commit_partitioned_busybox_root_gets_a_partition_node(domufs, templates, tmp_path):
    tpl = templates("alpine")
    img = tmp_path / "birnam.img"
    commit(domufs, tpl, profile("alpine"), img, "--partition", "msdos")
    fs = extract_partition(img, tmp_path / "fs.img")
    e2fsck_clean(fs)
    assert "/dev/xvda1\t/\text4\terrors=remount-ro\t0\t1" in debugfs_cat(fs, "/etc/fstab").splitlines()
    with KernelMount(img, tmp_path / "kmnt", offset=MIB) as k:
        for rel, (major, minor) in (("dev/xvda", (202, 0)), ("dev/xvda1", (202, 1))):
            st = os.lstat(k / rel)
            assert stat.S_ISBLK(st.st_mode), rel
            assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor), rel
            assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o660, 6), rel


# --------------------------------------------------------------------------
# refused profiles

BAD = ["bad-mac.cfg", "bad-password.cfg", "bad-hostname.cfg", "bad-newline.cfg",
       "bad-hostname-newline.cfg"]


def refused_line(path: Path) -> int:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if "# refused" in line:
            return i
    raise AssertionError(f"{path} has no line marked '# refused'")


def assert_one_line_naming(res_stderr: str, path: Path, line: int, what: str):
    errs = [x for x in res_stderr.splitlines() if x.strip()]
    assert len(errs) == 1, f"{what}: expected one stderr line, got:\n{res_stderr}"
    assert errs[0].startswith("domufs: ") and not errs[0].startswith("domufs: warning"), errs[0]
    assert f"{path}:{line}:" in errs[0], f"{what}: the line does not name {path}:{line}: {errs[0]}"


@pytest.mark.parametrize("bad", BAD)
def test_bad_profiles_are_refused_naming_file_and_line(bad, domufs, templates, tmp_path):
    tpl = templates("debian12")
    prof = DISTROS / bad
    line = refused_line(prof)

    # mount: exit 1, nothing mounted
    m = domufs.start_mount(tpl.path, extra=["--domain", str(prof)])
    ok, why = domufs.wait_ready(m)
    try:
        rc = m.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        rc = None
    mounted = F.is_mountpoint(m.path)
    if not ok and rc is not None and not mounted:
        m.finished = True      # the expected failure: nothing for teardown to check
    assert not ok, f"mount with {bad} became ready"
    assert rc == 1, f"mount with {bad}: exit {rc}, want 1; {why}"
    assert not mounted
    assert_one_line_naming(m.stderr(), prof, line, "mount")

    # diff: exit 1 (a runtime error), nothing on stdout
    r = domufs.run("diff", "--domain", prof, tpl.path)
    assert r.returncode == 1, str(r)
    assert r.stdout == "", str(r)
    assert_one_line_naming(r.stderr, prof, line, "diff")

    # commit: refused before anything is written
    img = tmp_path / "x.img"
    r = domufs.run("commit", "--domain", prof, tpl.path, img)
    assert r.returncode != 0, str(r)
    assert not img.exists() and not list(tmp_path.glob(".x.img.*")), os.listdir(tmp_path)
    assert_one_line_naming(r.stderr, prof, line, "commit")


def test_diff_and_mount_show_what_a_commit_with_fs_and_partition_writes(domufs, templates, tmp_path):
    """commit --fs ext3 --partition msdos writes /dev/xvda1 and ext3 into
    fstab and root=/dev/xvda1 into the boot menu: diff and mount with the
    same options show that, to review before committing."""
    tpl = templates("debian12")
    r = domufs.run("diff", "--domain", profile("debian12"), "--fs", "ext3", "--partition", "msdos", tpl.path)
    assert r.returncode == 0 and r.stderr == "", str(r)
    fstab = r.stdout.split("diff --domufs a/etc/fstab b/etc/fstab\n", 1)[1].split("\ndiff --domufs ", 1)[0]
    assert re.search(r"^\+/dev/xvda1\s+/\s+ext3\s", fstab, re.M), fstab
    assert "root=/dev/xvda1" in r.stdout, r.stdout
    m = mount(domufs, tpl, profile("debian12"), extra=["--fs", "ext2"])
    assert re.search(r"^/dev/xvda\s+/\s+ext2\s", read_checked(m.path, "etc/fstab").decode(), re.M)
    unmount(m)
    for bad in (["--fs", "ext5"], ["--partition", "gpt"]):
        r = domufs.run("diff", "--domain", profile("debian12"), *bad, tpl.path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and bad[1] in r.stderr, str(r)
