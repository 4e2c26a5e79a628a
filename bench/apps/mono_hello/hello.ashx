<%@ WebHandler Language="C#" Class="HelloHandler" %>
using System.Web;

// 11-byte "Hello World", text/plain: the same answer as bench/apps/hello_wsgi.py.
public class HelloHandler : IHttpHandler {
	public bool IsReusable { get { return true; } }

	public void ProcessRequest(HttpContext context) {
		context.Response.ContentType = "text/plain";
		context.Response.Write("Hello World");
	}
}
