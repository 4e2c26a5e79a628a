<%@ Page Language="C#" %>
<html><body>sub page at <%= Request.FilePath %> info <%= Request.PathInfo %></body></html>
