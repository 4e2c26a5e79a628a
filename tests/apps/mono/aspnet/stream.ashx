<%@ WebHandler Language="C#" Class="StreamHandler" %>
using System;
using System.Web;

// Streams `kib` KiB (default 1024) of a repeating pattern in 64 KiB flushed pieces.
public class StreamHandler : IHttpHandler {
	public bool IsReusable { get { return true; } }

	public void ProcessRequest(HttpContext context) {
		int kib = int.Parse(context.Request.QueryString["kib"] ?? "1024");
		context.Response.BufferOutput = false;
		context.Response.ContentType = "application/octet-stream";
		var piece = new byte[65536];
		for (int i = 0; i < piece.Length; i++)
			piece[i] = (byte) (i % 251);
		long left = kib * 1024L;
		while (left > 0) {
			int count = (int) Math.Min(left, piece.Length);
			context.Response.OutputStream.Write(piece, 0, count);
			context.Response.Flush();
			left -= count;
		}
	}
}
