// Preloaded (`node --import`) into a third-party Jules MCP server under test:
// sends its requests for https://jules.googleapis.com to the simulator at
// JJM_TEST_JULES_URL (`jjm sim serve` or the e2e simulator) instead.
const target = process.env.JJM_TEST_JULES_URL
if (target) {
  const realFetch = globalThis.fetch
  globalThis.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    return realFetch(url.replace(/^https:\/\/jules\.googleapis\.com/, target.replace(/\/+$/, '')), init)
  }
}
