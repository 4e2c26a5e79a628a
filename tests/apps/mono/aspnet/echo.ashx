<%@ WebHandler Language="C#" Class="EchoHandler" %>
using System;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Web;

// Echoes what ASP.NET saw of the request: method, paths, headers, form fields and the body's md5.
public class EchoHandler : IHttpHandler {
	public bool IsReusable { get { return true; } }

	public void ProcessRequest(HttpContext context) {
		HttpRequest request = context.Request;
		var text = new StringBuilder();
		text.AppendLine("method=" + request.HttpMethod);
		text.AppendLine("path=" + request.Path);
		text.AppendLine("path-info=" + request.PathInfo);
		text.AppendLine("query=" + request.Url.Query);
		text.AppendLine("q=" + request.QueryString["q"]);
		text.AppendLine("host=" + request.Url.Host);
		text.AppendLine("remote=" + request.UserHostAddress);
		text.AppendLine("secure=" + request.IsSecureConnection);
		text.AppendLine("content-type=" + request.ContentType);
		text.AppendLine("x-custom=" + request.Headers["X-Custom"]);
		text.AppendLine("user-agent=" + request.UserAgent);
		text.AppendLine("form-a=" + request.Form["a"]);
		if (request.ContentType.StartsWith("application/x-www-form-urlencoded")) {
			text.AppendLine("length=" + request.ContentLength);
		} else {
			using (var md5 = MD5.Create()) {
				byte[] body = md5.ComputeHash(request.InputStream);
				text.AppendLine("length=" + request.InputStream.Length);
				text.AppendLine("md5=" + BitConverter.ToString(body).Replace("-", "").ToLowerInvariant());
			}
		}
		context.Response.ContentType = "text/plain";
		context.Response.AppendHeader("X-Handler", "echo");
		context.Response.Write(text.ToString());
	}
}
