"""Every compute and volume response of a full workflow, through the Keystone v3 catalog
(OpenStack's endpoints), checked against tempest's published response schemas
(`tempest.lib.api_schema.response`, status codes included), as tempest's own clients check
them. Tempest publishes no schemas for the network and image APIs.

Usage: validate_responses.py <identity v3 URL> <user> <password> <project>
Prints one JSON line: how many responses were checked, by schema. Any mismatch raises.

Run by host/tests/e2e.rs (`tempest_schemas_hold_for_a_full_workflow_against_serve_demo`).
"""

import json
import sys
import time

import requests
from tempest.lib.api_schema.response.compute.v2_1 import flavors
from tempest.lib.api_schema.response.compute.v2_1 import images
from tempest.lib.api_schema.response.compute.v2_1 import keypairs
from tempest.lib.api_schema.response.compute.v2_1 import limits
from tempest.lib.api_schema.response.compute.v2_1 import quotas
from tempest.lib.api_schema.response.compute.v2_1 import servers
from tempest.lib.api_schema.response.compute.v2_1 import versions
from tempest.lib.api_schema.response.volume import volumes
from tempest.lib.common import rest_client

checked = {}


class Resp:
    """What `RestClient.validate_response` reads of a response: the status and headers."""

    def __init__(self, r):
        self.status = r.status_code
        self._headers = {k.lower(): v for k, v in r.headers.items()}

    def __getitem__(self, key):
        return self._headers[key.lower()]

    def get(self, key, default=None):
        return self._headers.get(key.lower(), default)

    def __iter__(self):
        return iter(self._headers)

    def keys(self):
        return self._headers.keys()

    def items(self):
        return self._headers.items()

    def __contains__(self, key):
        return key.lower() in self._headers


class Client:
    def __init__(self, token, compute, volume):
        self.s = requests.Session()
        self.s.headers.update({"X-Auth-Token": token, "Content-Type": "application/json"})
        self.compute = compute
        self.volume = volume

    def call(self, schema_name, schema, method, url, body=None):
        r = self.s.request(method, url, data=None if body is None else json.dumps(body))
        parsed = r.json() if r.content else ""
        try:
            rest_client.RestClient.validate_response(schema, Resp(r), parsed)
        except Exception as e:
            raise AssertionError(f"{method} {url} -> {r.status_code} {r.text[:2000]}\n{schema_name}: {e}")
        checked[schema_name] = checked.get(schema_name, 0) + 1
        return parsed

    def c(self, schema_name, schema, method, path, body=None):
        return self.call(schema_name, schema, method, self.compute + path, body)

    def v(self, schema_name, schema, method, path, body=None):
        return self.call(schema_name, schema, method, self.volume + path, body)

    def wait(self, path, done, base=None):
        url = (base or self.compute) + path
        for _ in range(300):
            r = self.s.get(url)
            if done(r):
                return r
            time.sleep(0.2)
        raise AssertionError(f"{url} never reached the state: {r.status_code} {r.text[:500]}")


def login(auth_url, user, password, project):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": password, "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}
    r = requests.post(auth_url + "/auth/tokens", json=body)
    r.raise_for_status()
    catalog = r.json()["token"]["catalog"]
    url = {e["type"]: e["endpoints"][0]["url"] for e in catalog}
    return r.headers["X-Subject-Token"], url["compute"], url["volume"], url["network"]


def main(auth_url, user, password, project):
    token, compute, volume, network = login(auth_url, user, password, project)
    cl = Client(token, compute, volume)
    # A private network for the server's address (Neutron has no published schemas).
    net = cl.s.post(network + "/v2.0/networks", json={"network": {"name": "schema-net"}})
    net.raise_for_status()
    net_id = net.json()["network"]["id"]
    cl.s.post(network + "/v2.0/subnets", json={"subnet": {
        "network_id": net_id, "cidr": "10.44.0.0/24", "ip_version": 4}}).raise_for_status()

    cl.call("versions.get_one_version", versions.get_one_version, "GET", compute)
    flavor_list = cl.c("flavors.list_flavors", flavors.list_flavors, "GET", "/flavors")
    cl.c("flavors.list_flavors_details", flavors.list_flavors_details, "GET", "/flavors/detail")
    flavor = next(f for f in flavor_list["flavors"] if f["name"] == "C1R1024D10ext_archipelago")
    cl.c("flavors.get_flavor", flavors.create_update_get_flavor_details, "GET", f"/flavors/{flavor['id']}")
    image_list = cl.c("images.list_images", images.list_images, "GET", "/images")
    cl.c("images.list_images_details", images.list_images_details, "GET", "/images/detail")
    image = image_list["images"][0]
    cl.c("images.get_image", images.get_image, "GET", f"/images/{image['id']}")
    cl.c("limits.get_limit", limits.get_limit, "GET", "/limits")
    project_id = None
    for _ in range(1):
        r = requests.get(auth_url + "/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token})
        project_id = r.json()["token"]["project"]["id"]
    cl.c("quotas.get_quota_set", quotas.get_quota_set, "GET", f"/os-quota-sets/{project_id}")
    cl.c("quotas.get_quota_set_details", quotas.get_quota_set_details, "GET",
         f"/os-quota-sets/{project_id}/detail")

    cl.c("keypairs.create_keypair", keypairs.create_keypair, "POST", "/os-keypairs",
         {"keypair": {"name": "schema-key"}})
    cl.c("keypairs.list_keypairs", keypairs.list_keypairs, "GET", "/os-keypairs")
    cl.c("keypairs.get_keypair", keypairs.get_keypair, "GET", "/os-keypairs/schema-key")

    created = cl.c("servers.create_server_with_admin_pass", servers.create_server_with_admin_pass,
                   "POST", "/servers",
                   {"server": {"name": "schema-vm", "imageRef": image["id"], "flavorRef": flavor["id"],
                               "key_name": "schema-key", "metadata": {"role": "test"},
                               "networks": [{"uuid": net_id}]}})
    sid = created["server"]["id"]
    cl.c("servers.get_server (BUILD)", servers.get_server, "GET", f"/servers/{sid}")
    cl.wait(f"/servers/{sid}", lambda r: r.json()["server"]["status"] == "ACTIVE")
    cl.c("servers.get_server", servers.get_server, "GET", f"/servers/{sid}")
    cl.c("servers.list_servers", servers.list_servers, "GET", "/servers")
    cl.c("servers.list_servers_detail", servers.list_servers_detail, "GET", "/servers/detail")
    cl.c("servers.update_server", servers.update_server, "PUT", f"/servers/{sid}",
         {"server": {"name": "schema-vm2"}})
    addresses = cl.c("servers.list_addresses", servers.list_addresses, "GET", f"/servers/{sid}/ips")
    for net in addresses["addresses"]:
        cl.c("servers.list_addresses_by_network", servers.list_addresses_by_network, "GET",
             f"/servers/{sid}/ips/{net}")
    cl.c("servers.list_server_metadata", servers.list_server_metadata, "GET", f"/servers/{sid}/metadata")
    cl.c("servers.set_server_metadata", servers.set_server_metadata, "PUT", f"/servers/{sid}/metadata",
         {"metadata": {"a": "1"}})
    cl.c("servers.update_server_metadata", servers.update_server_metadata, "POST",
         f"/servers/{sid}/metadata", {"metadata": {"b": "2"}})
    cl.c("servers.set_server_metadata_item", servers.set_show_server_metadata_item, "PUT",
         f"/servers/{sid}/metadata/c", {"meta": {"c": "3"}})
    cl.c("servers.get_server_metadata_item", servers.set_show_server_metadata_item, "GET",
         f"/servers/{sid}/metadata/c")
    cl.c("servers.delete_server_metadata_item", servers.delete_server_metadata_item, "DELETE",
         f"/servers/{sid}/metadata/c")

    # A volume: created, shown, listed, attached through Nova, detached, deleted.
    vol = cl.v("volumes.create_volume", volumes.create_volume, "POST", "/volumes",
               {"volume": {"size": 1, "name": "schema-vol"}})["volume"]
    cl.wait(f"/volumes/{vol['id']}", lambda r: r.json()["volume"]["status"] == "available", base=volume)
    cl.v("volumes.show_volume", volumes.show_volume, "GET", f"/volumes/{vol['id']}")
    cl.v("volumes.list_volumes", volumes.list_volumes_no_detail, "GET", "/volumes")
    cl.v("volumes.list_volumes_detail", volumes.list_volumes_with_detail, "GET", "/volumes/detail")
    cl.v("volumes.update_volume", volumes.update_volume, "PUT", f"/volumes/{vol['id']}",
         {"volume": {"name": "schema-vol2"}})
    cl.c("servers.attach_volume", servers.attach_volume, "POST", f"/servers/{sid}/os-volume_attachments",
         {"volumeAttachment": {"volumeId": vol["id"]}})
    cl.wait(f"/volumes/{vol['id']}", lambda r: r.json()["volume"]["status"] == "in-use", base=volume)
    cl.v("volumes.show_volume (in-use)", volumes.show_volume, "GET", f"/volumes/{vol['id']}")
    cl.c("servers.list_volume_attachments", servers.list_volume_attachments, "GET",
         f"/servers/{sid}/os-volume_attachments")
    cl.c("servers.show_volume_attachment", servers.show_volume_attachment, "GET",
         f"/servers/{sid}/os-volume_attachments/{vol['id']}")
    cl.c("servers.detach_volume", servers.detach_volume, "DELETE",
         f"/servers/{sid}/os-volume_attachments/{vol['id']}")
    cl.wait(f"/volumes/{vol['id']}", lambda r: r.json()["volume"]["status"] == "available", base=volume)

    # Actions, then the delete.
    cl.wait(f"/servers/{sid}", lambda r: r.json()["server"].get("OS-EXT-STS:task_state") in (None, ""))
    cl.c("servers.stop", servers.server_actions_common_schema, "POST", f"/servers/{sid}/action",
         {"os-stop": None})
    cl.wait(f"/servers/{sid}", lambda r: r.json()["server"]["status"] == "SHUTOFF")
    cl.c("servers.get_server (SHUTOFF)", servers.get_server, "GET", f"/servers/{sid}")
    cl.c("servers.start", servers.server_actions_common_schema, "POST", f"/servers/{sid}/action",
         {"os-start": None})
    cl.wait(f"/servers/{sid}", lambda r: r.json()["server"]["status"] == "ACTIVE")
    cl.c("servers.delete_server", servers.delete_server, "DELETE", f"/servers/{sid}")
    cl.wait(f"/servers/{sid}", lambda r: r.status_code == 404)
    cl.c("keypairs.delete_keypair", keypairs.delete_keypair, "DELETE", "/os-keypairs/schema-key")
    print(json.dumps({"checked": sum(checked.values()), "schemas": sorted(checked)}))


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
