async def test_health_and_login(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    async with server.http.get(server.url("/health")) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["database"] == "ok"
    headers = await server.auth_headers("platform_manager")
    async with server.http.get(server.url("/api/user/"), headers=headers) as resp:
        assert resp.status == 200
        assert (await resp.json())["count"] == 1
