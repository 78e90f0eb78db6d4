"""TorchServe glue shared by the endpoint handlers: request maps in, encoded results and errors out."""
