async (token) => {
  const root = (window.gradio_config?.root || "").replace(/\/$/, "");
  if (token) await fetch(root + "/api/admin/session", {method: "POST", headers: {Authorization: "Bearer " + token}});
  return token;
}
