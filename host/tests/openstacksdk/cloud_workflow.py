"""An openstacksdk program written against a real OpenStack cloud, run unchanged against
`cyclades serve --demo` (issue 18): the cloud layer's calls with their waits. It reads the
OS_* environment the demo banner prints, so it goes through the Keystone v3 catalog and gets
OpenStack's endpoints. Prints one JSON line of what it saw; any failure raises.

Run by host/tests/e2e.rs (`openstacksdk_cloud_layer_workflow_against_serve_demo`).
"""

import json
import sys
import time

import openstack


def main():
    conn = openstack.connect()
    seen = {}

    net = conn.create_network("sdk-net")
    conn.create_subnet(net.id, cidr="10.20.0.0/24", ip_version=4, enable_dhcp=True)
    seen["networks"] = sorted(n.name for n in conn.list_networks())
    conn.create_keypair("sdk-key")
    image = conn.get_image("debian-12")
    # Volumes attach to servers of their own storage (Synnefo's rule), and a volume made
    # without a type gets the first detachable one: `ext_archipelago` in the demo.
    flavor = conn.get_flavor("C1R1024D10ext_archipelago")
    assert image and flavor, (image, flavor)

    # A server on a private network, with a floating IP added on the way (auto_ip).
    server = conn.create_server(
        "sdk-vm",
        image=image,
        flavor=flavor,
        network=net,
        key_name="sdk-key",
        auto_ip=True,
        wait=True,
        timeout=180,
    )
    seen["server_status"] = server.status
    floating = [
        a["addr"]
        for addrs in server.addresses.values()
        for a in addrs
        if a.get("OS-EXT-IPS:type") == "floating"
    ]
    seen["floating"] = floating
    # The address shows on the server as soon as its NIC is planned; the floating IP turns
    # ACTIVE once Ganeti has the NIC.
    for _ in range(100):
        fips = [f for f in conn.list_floating_ips() if f.floating_ip_address in floating]
        if fips and fips[0].status == "ACTIVE":
            break
        time.sleep(0.2)
    assert fips and fips[0].status == "ACTIVE", fips
    seen["fip_port_is_a_port_of_the_server"] = any(
        p.id == fips[0].port_id for p in conn.list_ports(filters={"device_id": server.id})
    )

    # A spare floating IP, allocated and released.
    spare = conn.create_floating_ip(network="public")
    seen["spare_status"] = spare.status
    conn.delete_floating_ip(spare.id)

    # A volume: created, attached and detached with waits.
    volume = conn.create_volume(size=1, name="sdk-vol", wait=True, timeout=120)
    seen["volume_created"] = volume.status
    attachment = conn.attach_volume(server, volume, wait=True, timeout=120)
    seen["attached_device"] = attachment["device"]
    seen["volume_attached"] = conn.get_volume(volume.id).status
    conn.detach_volume(server, volume, wait=True, timeout=120)
    seen["volume_detached"] = conn.get_volume(volume.id).status

    # Deleted with a wait: openstacksdk waits for the 404.
    conn.delete_server(server.id, wait=True, timeout=120)
    seen["server_after_delete"] = conn.get_server(server.id)
    print(json.dumps(seen, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
