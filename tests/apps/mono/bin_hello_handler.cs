// Built by tests/test_mono.py into bin/bin-handlers.dll of a copy of aspnet/: an IHttpHandler
// mapped to bin-hello.axd in web.config.
using System.Web;

namespace Polyhost.Tests {
	public class BinHelloHandler : IHttpHandler {
		public bool IsReusable { get { return true; } }

		public void ProcessRequest(HttpContext context) {
			context.Response.ContentType = "text/plain";
			context.Response.Write("hello from a bin/ assembly handler, worker " + uwsgi.api.WorkerId());
		}
	}
}
